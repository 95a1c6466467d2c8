"""The student in checkpoints: what a checkpoint holds, and the one check that a checkpoint fits a student
(used by resuming and by evaluation alike)."""
import random

import numpy as np
import torch

from algos.config import Config
from algos.learner.model import ActorCritic
from utils.errors import UserError
from utils.options import from_dict

RESUME_KEYS = ("model", "optimizer", "iteration", "env_steps", "rng", "envs", "config", "obs_shape")


def saved_config(payload, where):
    """The Config stored in a checkpoint, every value checked (UserError naming the setting)."""
    return from_dict(Config, payload["config"], f"the settings in {where}")


def build_model(config, obs_shape, device, n_actions=7, encoder="grid"):
    """The student for observations of obs_shape: encoder "grid" (a memory map) or "pixels" (an RGB image)."""
    return ActorCritic(tuple(obs_shape), n_actions=n_actions, recurrent=config.recurrent, precision=config.precision,
                       encoder=encoder, lstm_residual=config.lstm_residual, egocentric=config.egocentric,
                       frame_channels=5 if config.mission_mark else 4, pixel_encoder=config.pixel_encoder).to(device)


def build_task_model(config, env_id, obs_shape, device):
    """The student of a task's world (its action count and encoder from the env)."""
    import env as env_pkg
    return build_model(config, obs_shape, device, env_pkg.action_count(env_id), env_pkg.observation_kind(env_id))


def load_weights(model, payload, where, task):
    """Put a checkpoint's weights into `model`, or raise one UserError line saying why they do not fit."""
    shape = list(payload.get("obs_shape", []))
    if shape != list(model.obs_shape):
        raise UserError(f"{where}: checkpoint observation shape {shape} does not match {list(model.obs_shape)} of "
                        f"task {task} (its --frame_stack and --mission_mark)")
    state = payload.get("model", {})
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError):
        raise UserError(f"{where}: checkpoint weights do not fit the student network (observation shape {shape}, "
                        f"recurrent={model.recurrent})") from None
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise UserError(f"{where}: checkpoint weights are not finite (NaN or inf); use an earlier checkpoint")


def rng_state():
    """Python, numpy (global), torch and CUDA generator states as plain data (weights_only-loadable)."""
    _, key, pos, has_gauss, gauss = np.random.get_state()
    return {"python": random.getstate(), "torch": torch.get_rng_state(),
            "numpy": {"key": key.tolist(), "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state):
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if state.get("numpy"):
        n = state["numpy"]
        np.random.set_state(("MT19937", np.asarray(n["key"], dtype=np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def export_student(checkpoint, out_path, half=True):
    """A small file with what evaluating a student needs (its weights, fp16 by default, and its run's config and
    observation shape), loadable by `main.py eval --loaddir FILE` like any checkpoint. Returns out_path."""
    from utils.checkpoint_file import load_checkpoint, save_checkpoint
    payload = load_checkpoint(checkpoint)
    model = {k: (v.half() if half and v.is_floating_point() else v) for k, v in payload["model"].items()}
    keep = {"model": model, "config": payload["config"], "obs_shape": payload["obs_shape"],
            "iteration": payload.get("iteration"), "env_steps": payload.get("env_steps")}
    return save_checkpoint(keep, out_path)
