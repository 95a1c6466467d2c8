"""Checkpoint files: plain state dicts and Python data only (loadable with torch.load(weights_only=True)), written
with utils.atomic, so a crash mid-write -- even SIGKILL or a full disk -- leaves the previous file intact."""
import os
import zipfile

import torch

from utils.atomic import atomic_write
from utils.errors import UserError


def save_checkpoint(payload, path):
    """Write payload to path; path always holds either the old or the new complete checkpoint (UserError on a
    failed write, the old file kept)."""
    return atomic_write(path, lambda f: torch.save(payload, f), what="checkpoint")


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
    require_keys(payload, path, require)
    if "obs_shape" in payload:
        shape = payload["obs_shape"]
        if not isinstance(shape, (list, tuple)) or not all(isinstance(s, int) and s > 0 for s in shape):
            raise UserError(f"checkpoint {path} has a malformed observation shape {shape!r}")
    return payload


def require_keys(payload, path, keys):
    """UserError unless a loaded checkpoint has every entry in `keys` (a model and a config as dictionaries): what
    a caller needs once it knows which kind of checkpoint it holds (e.g. an sb3_ppo run's has no model entry)."""
    missing = [k for k in keys if k not in payload]
    if missing:
        raise UserError(f"checkpoint {path} is not a checkpoint of this project (no {', '.join(missing)})")
    if any(k in keys and not isinstance(payload[k], dict) for k in ("model", "config")):
        raise UserError(f"checkpoint {path} is not a checkpoint of this project (bad model/config entries)")
