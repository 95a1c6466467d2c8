"""Frame stacking along the channel axis (oldest first, newest last), the one implementation the training envs
(env_group.py) and the benchmarks use: an episode's first observation fills every slot; each step shifts the stack by
one frame and appends the new observation."""
import numpy as np


def stacked_shape(obs_shape, frame_stack):
    """The shape of frame_stack observations of obs_shape (H, W, C) stacked along the channels."""
    w, h, c = obs_shape
    return (w, h, c * frame_stack)


def first_frames(obs, frame_stack):
    """The stack at an episode's start: obs repeated frame_stack times (obs itself when not stacking)."""
    return obs if frame_stack == 1 else np.tile(obs, (1, 1, frame_stack))


def push_frame(stacked, obs, out=None):
    """The stack after a step: stacked without its oldest frame, then obs; written into out (may be stacked itself)
    when given, else into a new array."""
    c = obs.shape[-1]
    if out is None:
        out = np.empty_like(stacked)
    out[..., :-c] = stacked[..., c:]
    out[..., -c:] = obs
    return out
