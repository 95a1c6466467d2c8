"""Run folders, config.json, device choice."""
import json
import os
import time

from utils.errors import UserError


def pick_device(name):
    import torch
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name}: not a torch device (cpu, cuda, cuda:N)") from None


def task_dir(logdir, task):
    return os.path.join(logdir, "ppo", task)


def make_run_dir(logdir, task, savedir, seed):
    """log/ppo/<task>/<savedir>-<seed>/, created fresh; refuses to overwrite an existing run."""
    name = savedir or time.strftime("run-%Y%m%d-%H%M%S")
    path = os.path.join(task_dir(logdir, task), f"{name}-{seed}")
    if os.path.exists(os.path.join(path, "config.json")):
        raise UserError(f"run folder {path} already exists: pick another --savedir or continue it with --resume {path}")
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".write-test")
        with open(probe, "w") as f:
            f.write("ok")
        os.unlink(probe)
    except OSError as e:
        raise UserError(f"cannot write to log folder {path}: {e.strerror or e}") from None
    return path


def write_config(path, config):
    tmp = os.path.join(path, ".config.json.tmp")
    try:
        with open(tmp, "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)
        os.replace(tmp, os.path.join(path, "config.json"))
    except OSError as e:
        raise UserError(f"cannot write {path}/config.json: {e.strerror or e}") from None
