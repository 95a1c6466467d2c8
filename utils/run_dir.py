"""Run folders (<logdir>/ppo/<task>/<name>-<seed>/), config.json, device choice, and the lock that keeps two
processes out of one run folder."""
import json
import os
import shutil
import time

from utils.atomic import atomic_write
from utils.errors import UserError
from utils.file_lock import Busy, hold

LOCK_NAME = ".lock"


def pick_device(name):
    import torch
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"--device {name}: not a torch device (auto, cpu, cuda, cuda:N)") from None
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"--device {name}: only cpu and cuda devices are supported")
    return device


ALGO_DIR = "ppo"  # the folder between a log folder and its task folders


def task_dir(logdir, task):
    return os.path.join(logdir, ALGO_DIR, task)


def logdir_of(run_dir):
    """The log folder a run folder lies in (the inverse of run_dir_path); for a run folder laid out otherwise, the
    folder above its task folder."""
    above_task = os.path.dirname(os.path.dirname(os.path.abspath(run_dir)))
    return os.path.dirname(above_task) if os.path.basename(above_task) == ALGO_DIR else above_task


def run_dir_path(logdir, task, savedir, seed):
    return os.path.join(task_dir(logdir, task), f"{savedir}-{seed}")


def default_run_name():
    return time.strftime("run-%Y%m%d-%H%M%S")


def check_run_dir_free(path):
    """UserError when path already holds a run (or anything else): runs are never overwritten."""
    if os.path.exists(os.path.join(path, "config.json")):
        raise UserError(f"run folder {path} already exists: pick another --savedir or continue it with --resume {path}")
    if os.path.lexists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise UserError(f"{path} already exists and is not an empty folder: pick another --savedir")


def check_log_dir(path):
    """UserError unless path is (or can be created as) a writable folder; creates nothing."""
    probe = os.path.abspath(path)
    while not os.path.lexists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise UserError(f"cannot create log folder {path}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to log folder {path}: {probe} is not writable")


def make_run_dir(logdir, task, savedir, seed, created=None):
    """log/ppo/<task>/<savedir>-<seed>/, created fresh; refuses to overwrite an existing run.
    Folders this call creates are appended to `created` (outermost first), for remove_new_run_dir."""
    path = run_dir_path(logdir, task, savedir or default_run_name(), seed)
    check_run_dir_free(path)
    new = []
    probe = os.path.abspath(path)
    while not os.path.lexists(probe):
        new.append(probe)
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    try:
        os.makedirs(path, exist_ok=True)
        probe_file = os.path.join(path, ".write-test")
        with open(probe_file, "w") as f:
            f.write("ok")
        os.unlink(probe_file)
    except OSError as e:
        remove_new_run_dir(path, new[::-1])
        raise UserError(f"cannot write to log folder {path}: {e.strerror or e}") from None
    if created is not None:
        created.extend(new[::-1])
    return path


def remove_new_run_dir(path, created):
    """Undo make_run_dir for a run that failed before its first iteration: its contents, then the folders it
    created (innermost first, only while empty)."""
    if os.path.isdir(path):
        for name in os.listdir(path):
            full = os.path.join(path, name)
            try:
                if os.path.isdir(full) and not os.path.islink(full):
                    shutil.rmtree(full)
                else:
                    os.unlink(full)
            except OSError:
                pass
    for folder in reversed(list(created)):
        try:
            os.rmdir(folder)
        except OSError:
            break


def write_config(path, config):
    """<run>/config.json: the run's settings (a plain dict), written atomically."""
    atomic_write(os.path.join(path, "config.json"), json.dumps(config, indent=2, sort_keys=True) + "\n",
                 what="run settings")


def plain_name(value, flag):
    """`value` if it is a plain file or folder name (no path separators, not . or ..), else UserError: names
    given on the command line must not lead outside the folders they name things in."""
    text = str(value)
    if not text or text in (".", "..") or "/" in text or "\\" in text or "\0" in text or os.path.isabs(text):
        raise UserError(f"{flag} {text!r}: expected a plain name without path separators")
    return text


class RunLock:
    """An exclusive lock on a run folder for as long as a process trains in it (released on exit, even SIGKILL)."""

    def __init__(self, run_dir):
        self.path = os.path.join(run_dir, LOCK_NAME)
        try:
            self._lock = hold(self.path, wait=False)
        except Busy:
            raise UserError(f"run folder {run_dir} is in use by another training process") from None
        except OSError as e:
            raise UserError(f"cannot write to run folder {run_dir}: {e.strerror or e}") from None

    def release(self):
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False
