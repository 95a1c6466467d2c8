"""Checkpoints: plain state dicts and Python data only (loadable with torch.load(weights_only=True)), written
atomically (temporary file in the same folder, fsync, rename, fsync of the folder) so a crash mid-write -- even
SIGKILL or a full disk -- leaves the previous file intact.

Temporary files are named `.<name>.<random>.tmp`: hidden and not ending in `.pt`, so nothing that looks for
checkpoints (`*.pt`, `latest.pt`) ever picks one up; `remove_stale_temps` deletes those a killed writer left.
"""
import errno
import os
import tempfile
import zipfile

import torch

from utils.errors import UserError

TEMP_SUFFIX = ".tmp"


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a directory; the rename itself is still atomic
        pass
    finally:
        os.close(fd)


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def save_atomic(payload, path):
    """Write payload to path so that path always holds either the old or the new complete checkpoint.
    Any OSError (full disk, permissions, ...) becomes a one-line UserError; the old file is kept."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=TEMP_SUFFIX, dir=folder)
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(folder)
    except (OSError, RuntimeError) as e:  # torch's zip writer may report a failed write as RuntimeError
        if tmp is not None:
            _unlink_quietly(tmp)
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e).strip().splitlines()[0][:120]
        kept = " (the previous checkpoint is kept)" if os.path.isfile(path) else ""
        hint = "; free some disk space" if isinstance(e, OSError) and e.errno == errno.ENOSPC else ""
        raise UserError(f"could not write checkpoint {path}: {reason}{kept}{hint}") from None
    except BaseException:  # KeyboardInterrupt, SystemExit: no half-written file left behind
        if tmp is not None:
            _unlink_quietly(tmp)
        raise


def remove_stale_temps(folder):
    """Delete temporary files a killed save_atomic left in folder (call only while no one is writing there)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for name in names:
        if (name.startswith(".") and name.endswith(TEMP_SUFFIX)) or (name.startswith(".tmp-") and name.endswith(".pt")):
            _unlink_quietly(os.path.join(folder, name))
            removed.append(name)
    return removed


def load_checkpoint(path, map_location="cpu", require=("model", "config", "obs_shape")):
    """The payload of a checkpoint of this project, or a one-line UserError (missing, corrupt, foreign file)."""
    if not os.path.isfile(path):
        raise UserError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise UserError(f"checkpoint {path} is corrupt or not a checkpoint of this project (not a PyTorch archive)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling/zip/read error means a bad file
        text = str(e).strip()
        if "weights only load failed" in text.lower():
            reason = "it holds objects other than tensors and plain data"
        else:
            reason = (text.splitlines()[0].split(". ")[0] if text else type(e).__name__)[:120]
        raise UserError(f"checkpoint {path} is corrupt or not a checkpoint of this project ({reason})") from None
    if not isinstance(payload, dict):
        raise UserError(f"checkpoint {path} is not a checkpoint of this project (not a dictionary)")
    missing = [k for k in require if k not in payload]
    if missing:
        raise UserError(f"checkpoint {path} is not a checkpoint of this project (no {', '.join(missing)})")
    if not isinstance(payload.get("model"), dict) or not isinstance(payload.get("config"), dict):
        raise UserError(f"checkpoint {path} is not a checkpoint of this project (bad model/config entries)")
    if "obs_shape" in payload:
        shape = payload["obs_shape"]
        if not isinstance(shape, (list, tuple)) or not all(isinstance(s, int) and s > 0 for s in shape):
            raise UserError(f"checkpoint {path} has a malformed observation shape {shape!r}")
    return payload
