"""Walking in a MiniWorld room: the floor as CELL-sized cells, which of them the agent can stand on (walls once
per episode, objects at each step), breadth-first shortest paths over them (teacher/miniworld_teacher.py's go
to and explore), and where the agent and what it holds have room."""
import math

import numpy as np

from env import miniworld as mw

CELL = 0.25          # the navigation grid's cell size (m)
REACH = 0.3          # go to: the agent's edge within this of the target's
MEMO = 8             # distances(): searches kept per episode
CLEARS = 64          # free(): cells clear of one object, kept per episode (objects move only when carried)
BESIDE = 0.7         # go to, holding: pass at least this share of the touching distance beside the target


class FloorGrid:
    """The floor as CELL-sized cells: which are free of walls for the agent (computed once per episode), and
    shortest paths around walls and objects toward a target (breadth-first search over free cells)."""

    def __init__(self, env):
        self.x0, self.z0 = env.min_x, env.min_z
        self.shape = (max(1, int(math.ceil((env.max_x - env.min_x) / CELL))),
                      max(1, int(math.ceil((env.max_z - env.min_z) / CELL))))
        xs = self.x0 + (np.arange(self.shape[0]) + 0.5) * CELL
        zs = self.z0 + (np.arange(self.shape[1]) + 0.5) * CELL
        self.centres = np.stack(np.meshgrid(xs, zs, indexing="ij"), -1)
        self.radius = env.agent.radius  # the agent's, fixed for the episode this grid belongs to
        self.walls_free = _clear_of_walls(self.centres, self.radius, env.wall_segs)
        self._distances = {}  # distances() of the last MEMO (free cells, starts) asked
        self._clears = {}  # free(): an object's x, z and radius -> the cells clear of it (read-only)

    def cell(self, x, z):
        i = min(self.shape[0] - 1, max(0, int((x - self.x0) / CELL)))
        j = min(self.shape[1] - 1, max(0, int((z - self.z0) / CELL)))
        return i, j

    def free(self, env, ignore=()):
        free = self.walls_free.copy()
        for ent in env.entities:
            if ent is not env.agent and ent not in ignore:
                free &= self._clear_of(ent)
        free[self.cell(env.agent.pos[0], env.agent.pos[2])] = True  # where the agent stands, it stands
        return free

    def _clear_of(self, ent):
        """The cells the agent can stand on without touching `ent` (kept while it lies where it lies)."""
        key = (float(ent.pos[0]), float(ent.pos[2]), float(ent.radius))
        clear = self._clears.get(key)
        if clear is None:
            if len(self._clears) >= CLEARS:
                self._clears.clear()
            d = np.hypot(self.centres[..., 0] - ent.pos[0], self.centres[..., 1] - ent.pos[2])
            clear = self._clears[key] = d >= self.radius + ent.radius - CELL / 2  # some point of the cell free
            clear.flags.writeable = False
        return clear

    def distances(self, free, starts):
        """Steps (8-connected) from the nearest start cell through free cells; -1 where unreachable (read-only: the
        last few are kept, for the steps that only turn the agent ask again)."""
        key = (free.tobytes(), np.asarray(starts, np.int64).tobytes())
        dist = self._distances.get(key)
        if dist is None:
            if len(self._distances) >= MEMO:
                self._distances.pop(next(iter(self._distances)))
            dist = self._distances[key] = self._search(free, starts)
            dist.flags.writeable = False
        return dist

    def _search(self, free, starts):
        """distances(), breadth-first, a whole frontier at a time as array shifts."""
        dist = np.full(self.shape, -1, np.int32)
        reached = np.zeros(self.shape, bool)
        for c in starts:
            reached[c] = free[c]
        dist[reached] = 0
        frontier, k = reached.copy(), 0
        while frontier.any():
            k += 1
            grown = np.zeros_like(frontier)
            grown[1:] |= frontier[:-1]
            grown[:-1] |= frontier[1:]
            grown[:, 1:] |= frontier[:, :-1]
            grown[:, :-1] |= frontier[:, 1:]
            grown[1:, 1:] |= frontier[:-1, :-1]
            grown[:-1, :-1] |= frontier[1:, 1:]
            grown[1:, :-1] |= frontier[:-1, 1:]
            grown[:-1, 1:] |= frontier[1:, :-1]
            frontier = grown & free & ~reached
            reached |= frontier
            dist[frontier] = k
        return dist

    def waypoint(self, env, ent, ignore=()):
        """The centre of the next cell on a shortest free path from the agent toward `ent` (ent itself when none)."""
        free = self.free(env, ignore=tuple(ignore) + (ent,))
        d = np.hypot(self.centres[..., 0] - ent.pos[0], self.centres[..., 1] - ent.pos[2])
        goal_cells = list(zip(*np.nonzero(free & (d <= env.agent.radius + ent.radius + REACH + CELL))))
        dist = self.distances(free, goal_cells)
        here = self.cell(env.agent.pos[0], env.agent.pos[2])
        best, best_d = None, None
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                a, b = here[0] + di, here[1] + dj
                if 0 <= a < self.shape[0] and 0 <= b < self.shape[1] and dist[a, b] >= 0 and \
                        (best_d is None or dist[a, b] < best_d):
                    best, best_d = (a, b), dist[a, b]
        if best is None or best == here:
            return ent.pos
        # look ahead along the path while the straight line stays free: smoother turns
        for _ in range(3):
            a, b = best
            nxt = min(((a + di, b + dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)
                       if 0 <= a + di < self.shape[0] and 0 <= b + dj < self.shape[1] and dist[a + di, b + dj] >= 0),
                      key=lambda c: dist[c], default=best)
            if dist[nxt] >= dist[best]:
                break
            best = nxt
        x, z = self.centres[best]
        return np.array([x, 0.0, z])

    def least_visited(self, env, visits):
        free = self.free(env, ignore=(env.agent.carrying,))
        here = self.cell(env.agent.pos[0], env.agent.pos[2])
        dist = self.distances(free | (np.arange(self.shape[0])[:, None] == here[0]) &
                              (np.arange(self.shape[1])[None, :] == here[1]), [here])
        reachable = dist > 0
        if not reachable.any():
            return None
        score = np.where(reachable, visits * 1000 - dist, np.iinfo(np.int32).max)  # far, never visited first
        i, j = np.unravel_index(int(np.argmin(score)), score.shape)
        x, z = self.centres[i, j]
        return np.array([x, 0.0, z])


def _clear_of_walls(centres, radius, segs):
    """Which cell centres a disc of `radius` can stand on without touching a wall segment (ground plane)."""
    if len(segs) == 0:
        return np.ones(centres.shape[:2], bool)
    p = centres.reshape(-1, 1, 2)
    a, b = segs[:, 0][:, [0, 2]][None], segs[:, 1][:, [0, 2]][None]
    ab = b - a
    t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    closest = a + t[..., None] * ab
    d = np.sqrt(((p - closest) ** 2).sum(-1)).min(-1)
    return (d >= radius).reshape(centres.shape[:2])


def turn_step(env):
    """One turn action's angle (radians), the largest the env's parameters allow."""
    return math.radians(env.params.get_max("turn_step"))


def held_fits(env, pos, heading):
    """Whether the held object (if any) has room where it would be carried with the agent at pos, heading."""
    held = env.agent.carrying
    if held is None:
        return True
    dist = 1.05 * (env.agent.radius + held.radius + env.max_forward_step)
    carried = pos + np.array([math.cos(heading), 0.0, -math.sin(heading)]) * dist
    return not mw.blocked(env, carried, held.radius, ignore=(held,))


def free_ahead(env):
    """Whether one step forward is free for the agent and what it holds."""
    a = env.agent
    ahead = a.pos + a.dir_vec * env.max_forward_step
    return not mw.blocked(env, ahead, a.radius, ignore=(a.carrying,)) and held_fits(env, ahead, a.dir)


def line_clear(env, ent):
    """Whether the agent (and what it holds) can walk straight to `ent` without hitting anything else."""
    a, held = env.agent, env.agent.carrying
    length = mw.ground_distance(a.pos, ent.pos) - (a.radius + ent.radius)
    if length <= 0:
        return True
    direction = (ent.pos - a.pos) / max(mw.ground_distance(a.pos, ent.pos), 1e-9)
    radius = a.radius if held is None else a.radius + 2 * held.radius
    along = np.arange(0.0, length + 1e-9, 0.2)
    return not mw.any_blocked(env, a.pos + direction * along[:, None], radius, ignore=(ent, held))


def beside(env, ent):
    """A point beside `ent`, between BESIDE and 1 touching distance (the held object's radius and its) off the line
    to it, on the side the agent already faces (a wall there: the other side)."""
    held = env.agent.carrying
    line = (ent.pos - env.agent.pos) / max(mw.ground_distance(ent.pos, env.agent.pos), 1e-9)
    right = np.array([-line[2], 0.0, line[0]])
    first = 1.0 if mw.heading_to(env, ent.pos) >= 0 else -1.0
    offset = (1 + BESIDE) / 2 * (held.radius + ent.radius)
    for side in (first, -first):
        goal = ent.pos + side * offset * right
        if not mw.blocked(env, goal, held.radius, ignore=(held, ent)):
            return goal
    return ent.pos
