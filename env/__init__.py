"""The worlds the student acts in: MiniGrid tasks observed through the memory map (env.memory), and MiniWorld's 3D
rooms observed as first-person RGB images (env.miniworld).

The LLM4Teach tasks and the lab's two box tasks are registered with gymnasium under their official ids on import;
`make_env` also makes any other registered minigrid environment (e.g. MiniGrid-DoorKey-16x16-v0) with the same
observation, keeping its own grid, view size, max steps and reward.
"""
import functools
import importlib

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator
from minigrid.minigrid_env import MiniGridEnv

from env.box_tasks import KeyInBoxEnv, RandomBoxKeyEnv
from env.memory import MemoryObservation, memory_class
from env.miniworld import is_miniworld, make_miniworld
from env.tasks import ColoredDoorKeyEnv, LavaDoorKeyEnv, MemoryEnv, SimpleDoorKeyEnv, TwoDoorEnv

ENV_CLASSES = {
    "MiniGrid-SimpleDoorKey-Min5-Max10-View3": (SimpleDoorKeyEnv, {}),
    "MiniGrid-LavaDoorKey-Min5-Max10-View3": (LavaDoorKeyEnv, {}),
    "MiniGrid-ColoredDoorKey-Min5-Max10-View3": (ColoredDoorKeyEnv, {}),
    "MiniGrid-TwoDoor-Min20-Max20": (TwoDoorEnv, {}),
    "MiniGrid-KeyInBox-Min5-Max10-View3": (KeyInBoxEnv, {}),
    "MiniGrid-RandomBoxKey-Min5-Max10-View3": (RandomBoxKeyEnv, {}),
}

for _env_id, (_cls, _kwargs) in ENV_CLASSES.items():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point=f"{_cls.__module__}:{_cls.__name__}", kwargs=_kwargs)


class UnknownEnvironment(ValueError):
    """No minigrid environment is registered under this id."""


def minigrid_class(env_id):
    """(memory-observed class, constructor kwargs) of a registered minigrid environment; UnknownEnvironment (a
    ValueError, one line) for an id that is not registered or not a minigrid MiniGridEnv, ValueError for a module
    that cannot be imported. "module:ID" imports the module first (where
    a user's own environment registers itself), as gymnasium.make does."""
    if env_id in ENV_CLASSES:
        return ENV_CLASSES[env_id]
    if ":" in env_id:
        module, _, env_id = env_id.partition(":")
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ValueError(f"cannot import {module} (for environment {env_id}): {e}") from None
    spec = gym.registry.get(env_id)
    if spec is None:
        raise UnknownEnvironment(f"no gymnasium environment is registered as {env_id!r}")
    try:
        creator = load_env_creator(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
    except (ImportError, AttributeError) as e:
        raise UnknownEnvironment(f"{env_id}'s entry point {spec.entry_point} cannot be loaded: {e}") from None
    if not (isinstance(creator, type) and issubclass(creator, MiniGridEnv)):
        raise UnknownEnvironment(f"{env_id} is not a minigrid environment (its entry point is {spec.entry_point})")
    return memory_class(creator), dict(spec.kwargs or {})


def make_env(env_id, mission_mark=False, **kwargs):
    """The bare environment (no gymnasium wrappers: the training hot path needs none); mission_mark: a grid task's
    map gets the mission's objects as a fifth channel (env.mission)."""
    if is_miniworld(env_id):
        if mission_mark:
            raise ValueError(f"{env_id}: the mission mark is a channel of a grid task's map, not of an image")
        return make_miniworld(env_id)
    cls, defaults = minigrid_class(env_id)
    _quiet_level_generation()
    return cls(**{**defaults, **kwargs}, mission_mark=mission_mark)


REJECTED = "Sampling rejected"  # what BabyAI's level generator prints each time it draws a level again


@functools.lru_cache(maxsize=None)
def _quiet_level_generation():
    """BabyAI's level generator prints a line each time its rejection sampling draws a level again (normal, not an
    error; a GoToObjMaze run's log gathered hundreds): those lines are dropped, its other prints kept."""
    from minigrid.envs.babyai.core import roomgrid_level

    def quiet(*args, **kwargs):
        if not (args and str(args[0]).startswith(REJECTED)):
            print(*args, **kwargs)
    roomgrid_level.print = quiet


def episode_success(terminated, last_reward):
    """Whether an episode succeeded: it ended by itself (not cut at its step limit) on a positive reward (a grid
    task's goal reached; a MiniWorld task's goal met: PickupObjects' last object picked up)."""
    return bool(terminated and last_reward > 0)


def frame(env):
    """A picture of an env for videos: a MiniGrid task as the teacher sees it (unseen cells greyed), a MiniWorld
    room as the first-person view beside the top view."""
    if hasattr(env, "render_top_view"):
        from env.miniworld import frame as miniworld_frame
        return miniworld_frame(env)
    from utils.video import render_memory_frame
    return render_memory_frame(env)


def observation_kind(env_id):
    """What the student sees: "grid" (a MiniGrid memory map, (W, H, 4)) or "pixels" (an RGB image, (H, W, 3))."""
    return "pixels" if is_miniworld(env_id) else "grid"


@functools.lru_cache(maxsize=None)
def action_count(env_id):
    """The number of the world's actions (minigrid's 7 for every grid task; a MiniWorld env's own action space)."""
    if is_miniworld(env_id):
        return int(make_miniworld(env_id).action_space.n)
    from minigrid.core.actions import Actions
    return len(Actions)


def visit_state(env_id):
    """The function (env -> hashable state) an episodic count bonus counts in a 3D world's rooms; None for a grid
    task, whose state the count bonus reads off the grid itself (algos/vec_env/count_bonus.py)."""
    if is_miniworld(env_id):
        from env.miniworld import visit_state as state_of_room
        return state_of_room
    return None


__all__ = ["ENV_CLASSES", "UnknownEnvironment", "minigrid_class", "MemoryEnv", "MemoryObservation", "make_env",
           "observation_kind", "action_count", "visit_state", "is_miniworld", "SimpleDoorKeyEnv",
           "LavaDoorKeyEnv", "ColoredDoorKeyEnv", "TwoDoorEnv", "KeyInBoxEnv", "RandomBoxKeyEnv"]
