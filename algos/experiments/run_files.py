"""A run folder's files, for the tools that read finished or running runs (plot, results, texts): finding the
run folders under a path, and reading metrics.csv and config.json."""
import csv
import json
import os
import re

from utils.errors import UserError

_SEED_SUFFIX = re.compile(r"^(.*)-(\d+)$")


def split_run_name(folder_name):
    """'llm4teach-3' -> ('llm4teach', 3); a name without a numeric -<seed> suffix is its own run name."""
    m = _SEED_SUFFIX.match(folder_name)
    return (m.group(1), int(m.group(2))) if m else (folder_name, None)


def find_runs(paths):
    """Run folders named by `paths` (each a run folder or a folder above runs), in order, without repeats.
    Returns [(run_dir, explicit)] where explicit says the user named the run folder itself."""
    found, seen = [], set()
    for p in paths:
        p = os.path.normpath(str(p))
        if not os.path.exists(p):
            raise UserError(f"no such run folder: {p}")
        if not os.path.isdir(p):
            raise UserError(f"not a folder: {p} (give a run folder, a task folder or log/)")
        if os.path.isfile(os.path.join(p, "metrics.csv")):
            candidates = [(p, True)]
        else:
            candidates = []
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("checkpoints", "videos"))
                if "metrics.csv" in files:
                    candidates.append((root, False))
                    dirs[:] = []  # a run folder holds no further runs
            if not candidates:
                raise UserError(f"{p}: no metrics.csv in it or below it (not a run folder; has training started?)")
        for run_dir, explicit in candidates:
            real = os.path.realpath(run_dir)
            if real not in seen:
                seen.add(real)
                found.append((run_dir, explicit))
    return found


def read_metrics(run_dir):
    """The rows of <run_dir>/metrics.csv as dicts of strings; UserError when missing or without rows."""
    path = os.path.join(run_dir, "metrics.csv")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise UserError(f"{run_dir}: no metrics.csv (not a run folder; has training started?)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    if not rows:
        raise UserError(f"{path} has no rows yet (the run has not finished an iteration)")
    return rows


def read_config(run_dir):
    path = os.path.join(run_dir, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
        return cfg if isinstance(cfg, dict) else {}
    except (OSError, ValueError):
        return {}
