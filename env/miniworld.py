"""Farama's MiniWorld (3D, first-person RGB) for the student and its teacher.

The student sees only the env's observation, the (60, 80, 3) first-person image. The teacher's skills read the
simulator's state through `objects(env)` (what is there, where, what is carried), as Habitat's skills read its
sensors. Rendering is headless: pyglet draws through EGL (Mesa's software renderer on a CPU), so no display or X
server is needed; where that cannot start, `load()` raises one clear UserError instead of hanging or a traceback.
"""
import contextlib
import ctypes
import functools
import io
import math

import numpy as np

from utils.errors import UserError

PREFIX = "MiniWorld-"
QUIET = "Falling back to num_samples"  # miniworld's note that the renderer has fewer samples than it asked for
_loaded = None
RENDER_INSTALL = "bash scripts/install_render.sh installs what rendering needs (EGL, GLU, FreeType)"
# The project's own ids: a MiniWorld task with its camera's domain parameters changed (docs/worlds.md). LookDown:
# the camera pitched 20 degrees down, so a key stays in the image until pick up reaches it (level, it leaves the
# 60 x 80 image 1.9 m ahead and is taken from 1.5 m).
VARIANTS = {"MiniWorld-PickupObjects-LookDown-v0": ("MiniWorld-PickupObjects-v0", {"cam_pitch": -20})}


def is_miniworld(env_id):
    return str(env_id).startswith(PREFIX)


def load():
    """The miniworld module, imported headless (UserError, one line, when it is missing or cannot render)."""
    global _loaded
    if _loaded is None:
        try:
            import pyglet
            pyglet.options["headless"] = True
            import miniworld  # noqa: F401  (registers the MiniWorld-* ids)
            import miniworld.entity
            import miniworld.math
            import miniworld.params
        except ImportError as e:
            raise UserError(_missing_library(e) or f"MiniWorld is not installed ({e}); run: pip install -r "
                                                   f"requirements.txt") from None
        except Exception as e:  # noqa: BLE001 - pyglet's EGL/display errors have no common type
            raise UserError(f"MiniWorld cannot render on this machine ({type(e).__name__}: "
                            f"{' '.join(str(e).split())[:160]}); {RENDER_INSTALL}") from None
        _register_variants(miniworld.params.DEFAULT_PARAMS)
        _loaded = miniworld
    return _loaded


def _register_variants(defaults):
    """Register VARIANTS with gymnasium: the base id's entry point and kwargs, its domain parameters changed."""
    import gymnasium as gym
    for env_id, (base, changes) in VARIANTS.items():
        if env_id in gym.registry:
            continue
        spec, params = gym.registry[base], defaults.no_random()
        for name, value in changes.items():
            params.set(name, value)
        gym.register(id=env_id, entry_point=spec.entry_point, max_episode_steps=spec.max_episode_steps,
                     kwargs={**(spec.kwargs or {}), "params": params})


def _missing_library(e):
    """The one-line message for pyglet's ImportError of a system library it loads (e.g. 'Library "GLU" not
    found.'), or None for any other error."""
    words = str(e).split('"')
    if isinstance(e, ImportError) and len(words) == 3 and words[0] == "Library " and "not found" in words[2]:
        return f"MiniWorld cannot render on this machine: the system library {words[1]} is missing; {RENDER_INSTALL}"
    return None


def make_miniworld(env_id):
    """The bare MiniWorld env of a registered MiniWorld id (no gymnasium wrappers), rendering checked once."""
    import gymnasium as gym
    load()
    if env_id not in gym.registry:
        raise ValueError(f"no MiniWorld environment is registered as {env_id!r}")
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            env = gym.make(env_id, render_mode="rgb_array").unwrapped
    except Exception as e:  # noqa: BLE001 - a GL context that cannot be made
        raise UserError(_missing_library(e) or f"MiniWorld cannot render {env_id} here ({type(e).__name__}: "
                                               f"{str(e)[:160]}); {RENDER_INSTALL}") from None
    finally:  # miniworld prints its multisampling fallback once per env: a run's log held dozens of them
        print("".join(line for line in printed.getvalue().splitlines(keepends=True)
                      if not line.startswith(QUIET)), end="")
    env.close = functools.partial(_close, env, env.close)
    return env


def _close(env, close_env):
    """MiniWorld's close() leaves its GL objects and its hidden window alive (about 36 MB per env with Mesa's
    software renderer: a run that makes evaluation envs over and over grows by gigabytes); free them, then close."""
    from pyglet import gl
    window, env.shadow_window = getattr(env, "shadow_window", None), None
    if window is not None:
        window.switch_to()
        for fb in (getattr(env, "obs_fb", None), getattr(env, "vis_fb", None)):
            for fbo in (getattr(fb, "multi_fbo", None), getattr(fb, "final_fbo", None)):
                if fbo is not None:
                    _delete_framebuffer(gl, fbo)
        window.close()
    close_env()


def _delete_framebuffer(gl, fbo):
    """Delete a framebuffer with the texture and renderbuffer attached to it (MiniWorld keeps no other handle)."""
    gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, fbo)
    for attachment in (gl.GL_COLOR_ATTACHMENT0, gl.GL_DEPTH_ATTACHMENT):
        kind, name = gl.GLint(0), gl.GLint(0)
        gl.glGetFramebufferAttachmentParameteriv(gl.GL_FRAMEBUFFER, attachment,
                                                 gl.GL_FRAMEBUFFER_ATTACHMENT_OBJECT_TYPE, ctypes.byref(kind))
        gl.glGetFramebufferAttachmentParameteriv(gl.GL_FRAMEBUFFER, attachment,
                                                 gl.GL_FRAMEBUFFER_ATTACHMENT_OBJECT_NAME, ctypes.byref(name))
        handle = gl.GLuint(name.value)
        if kind.value == gl.GL_TEXTURE:
            gl.glDeleteTextures(1, ctypes.byref(handle))
        elif kind.value == gl.GL_RENDERBUFFER:
            gl.glDeleteRenderbuffers(1, ctypes.byref(handle))
    gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
    gl.glDeleteFramebuffers(1, ctypes.byref(fbo))


def kinds():
    """MiniWorld's entity classes the teacher can name, by kind name."""
    entity = load().entity
    return {"box": entity.Box, "ball": entity.Ball, "key": entity.Key}


def colours():
    return tuple(load().entity.COLOR_NAMES)


def objects(env):
    """[(kind, colour, entity)] of the movable objects the teacher can name (the carried one included)."""
    out = []
    for ent in env.entities:
        for kind, cls in kinds().items():
            if type(ent) is cls:
                out.append((kind, colour_of(ent), ent))
    return out


def colour_of(ent):
    """A box's colour, or a ball's or key's (MiniWorld names their meshes <kind>_<colour>)."""
    colour = getattr(ent, "color", None)
    if colour is None and hasattr(ent, "mesh"):  # the mesh cache is keyed by file path: .../key_red.obj
        import os
        from miniworld.objmesh import ObjMesh
        path = next((p for p, mesh in ObjMesh.cache.items() if mesh is ent.mesh), "")
        colour = os.path.splitext(os.path.basename(path))[0].rsplit("_", 1)[-1]
    return colour if colour in colours() else None


def agent_pose(env):
    """(x, z, heading in radians) of the agent (MiniWorld's heading: 0 faces +x, positive turns left)."""
    return float(env.agent.pos[0]), float(env.agent.pos[2]), float(env.agent.dir)


VISIT_CELL = 0.5  # metres: the floor cell of a count bonus's state (a forward step moves the agent 0.15 m)
VISIT_SECTORS = 12  # heading sectors of 30 degrees in that state (a turn is 15 degrees)


def visit_state(env):
    """The state an episodic count bonus counts in a MiniWorld room: the agent's floor cell, its heading sector and
    which entity it carries (its index in the room; None: nothing), as the grid's is its cell, direction and load."""
    x, z, heading = agent_pose(env)
    held = env.agent.carrying
    return (math.floor(x / VISIT_CELL), math.floor(z / VISIT_CELL),
            round(heading / (2 * math.pi / VISIT_SECTORS)) % VISIT_SECTORS,
            None if held is None else env.entities.index(held))


def heading_to(env, pos):
    """The turn (radians, in (-pi, pi]; positive: left) that faces the agent toward a position."""
    x, z, heading = agent_pose(env)
    want = math.atan2(-(float(pos[2]) - z), float(pos[0]) - x)
    return (want - heading + math.pi) % (2 * math.pi) - math.pi


def ground_distance(a, b):
    return float(math.hypot(float(a[0]) - float(b[0]), float(a[2]) - float(b[2])))


def blocked(env, pos, radius, ignore=()):
    """Whether a disc at pos would hit a wall or an entity other than the agent and `ignore`."""
    mw = load()
    p = np.array([pos[0], 0.0, pos[2]])
    if mw.math.intersect_circle_segs(p, radius, env.wall_segs):
        return True
    for ent in env.entities:
        if ent is env.agent or ent in ignore:
            continue
        if ground_distance(ent.pos, p) < radius + ent.radius:
            return True
    return False


def any_blocked(env, points, radius, ignore=()):
    """Whether a disc at any of `points` (n, 3) would hit a wall or an entity other than the agent and `ignore`:
    blocked() for each, the walls for all points at once (the same arithmetic as miniworld's per-point test)."""
    segs = env.wall_segs
    if len(segs):
        p = np.zeros((len(points), 1, 3))
        p[:, 0, 0], p[:, 0, 2] = points[:, 0], points[:, 2]
        a, ab = segs[:, 0, :], segs[:, 1, :] - segs[:, 0, :]
        along = np.clip(np.sum((p - a) * ab, axis=-1) / np.sum(ab * ab, axis=1), 0, 1)[..., None]
        if np.any(np.linalg.norm(a + along * ab - p, axis=-1) < radius):
            return True
    xs, zs = points[:, 0].tolist(), points[:, 2].tolist()
    for ent in env.entities:
        if ent is env.agent or ent in ignore:
            continue
        ex, ez, reach = float(ent.pos[0]), float(ent.pos[2]), radius + ent.radius
        if any(math.hypot(ex - x, ez - z) < reach for x, z in zip(xs, zs)):  # ground_distance, point by point
            return True
    return False


def wall_between(env, a, b):
    """Whether a wall segment crosses the ground segment a -> b (what the agent cannot see through)."""
    px, pz = float(a[0]), float(a[2])
    rx, rz = float(b[0]) - px, float(b[2]) - pz
    for (qx, _, qz), (ex, _, ez) in env.wall_segs.tolist():  # plain floats: a few segments, numpy's overhead
        sx, sz = ex - qx, ez - qz
        cross = rx * sz - rz * sx
        if abs(cross) > 1e-9:
            qpx, qpz = qx - px, qz - pz
            t, u = (qpx * sz - qpz * sx) / cross, (qpx * rz - qpz * rx) / cross
            if 1e-6 < t < 1 - 1e-6 and 0 <= u <= 1:
                return True
    return False


def field_of_view(env):
    """The camera's horizontal field of view (radians), from its vertical one and the image's aspect."""
    h, w = env.observation_space.shape[:2]
    return 2 * math.atan(math.tan(math.radians(env.agent.cam_fov_y) / 2) * w / h)


def in_view(env, ent, max_distance=30.0):
    """Whether the entity is within the camera's horizontal field of view, no wall between (the image's lower edge
    is not checked: a low object near the agent lies below it; bench/miniworld_skills.py measures how near)."""
    if abs(heading_to(env, ent.pos)) > field_of_view(env) / 2 + math.atan2(ent.radius, max(
            ground_distance(env.agent.pos, ent.pos), 1e-6)):
        return False
    return ground_distance(env.agent.pos, ent.pos) <= max_distance and not wall_between(env, env.agent.pos, ent.pos)


def in_reach(env, ent):
    """Whether pick up takes `ent` now (MiniWorld's own test: the first thing a disc 1.5 radii ahead of the agent
    touches)."""
    a = env.agent
    return env.intersect(a, a.pos + a.dir_vec * 1.5 * a.radius, 1.2 * a.radius) is ent


def frame(env):
    """A picture of the env for videos: the first-person view beside the top view, same height."""
    first = env.render_obs()
    top = env.render_top_view()
    h = first.shape[0]
    scale = h / top.shape[0]
    idx = (np.arange(int(top.shape[1] * scale)) / scale).astype(int)
    rows = (np.arange(h) / scale).astype(int)
    return np.concatenate([first, top[rows][:, idx]], axis=1)
