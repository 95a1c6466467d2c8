"""LLM4Teach MiniGrid tasks, registered with gymnasium under the official ids on import."""
import gymnasium as gym

from env.tasks import ColoredDoorKeyEnv, LavaDoorKeyEnv, MemoryEnv, SimpleDoorKeyEnv, TwoDoorEnv

ENV_CLASSES = {
    "MiniGrid-SimpleDoorKey-Min5-Max10-View3": (SimpleDoorKeyEnv, {}),
    "MiniGrid-LavaDoorKey-Min5-Max10-View3": (LavaDoorKeyEnv, {}),
    "MiniGrid-ColoredDoorKey-Min5-Max10-View3": (ColoredDoorKeyEnv, {}),
    "MiniGrid-TwoDoor-Min20-Max20": (TwoDoorEnv, {}),
}

for _env_id, (_cls, _kwargs) in ENV_CLASSES.items():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point=f"env.tasks:{_cls.__name__}", kwargs=_kwargs)


def make_env(env_id, **kwargs):
    """The bare environment (no gymnasium wrappers: the training hot path needs none)."""
    cls, defaults = ENV_CLASSES[env_id]
    return cls(**{**defaults, **kwargs})


__all__ = ["ENV_CLASSES", "MemoryEnv", "make_env", "SimpleDoorKeyEnv", "LavaDoorKeyEnv", "ColoredDoorKeyEnv",
           "TwoDoorEnv"]
