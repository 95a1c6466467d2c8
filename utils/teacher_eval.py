"""The teacher-alone evaluation result of a task, stored next to its runs: log/ppo/<Task>/teacher_eval.json.

    {"task": "SimpleDoorKey", "success_rate": 0.98, "mean_return": 0.85, "mean_length": 17.2, "num_eval": 100}
"""
import json
import os
import tempfile

from utils.errors import UserError

TEACHER_EVAL_FILE = "teacher_eval.json"
REQUIRED_KEYS = ("task", "success_rate", "mean_return", "mean_length", "num_eval")


def teacher_eval_path(task_dir):
    return os.path.join(task_dir, TEACHER_EVAL_FILE)


def _plain(value):
    """numpy scalars and the like as plain JSON values."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_teacher_eval(task_dir, result_dict):
    """Write result_dict to <task_dir>/teacher_eval.json atomically (temp file + rename); returns the path."""
    missing = [k for k in REQUIRED_KEYS if k not in result_dict]
    if missing:
        raise ValueError(f"teacher eval result lacks {', '.join(missing)}")
    os.makedirs(task_dir, exist_ok=True)
    path = teacher_eval_path(task_dir)
    fd, tmp = tempfile.mkstemp(prefix=".teacher_eval.", suffix=".tmp", dir=task_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(dict(result_dict), f, indent=2, default=_plain)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def read_teacher_eval(task_dir):
    """The stored teacher-alone result of a task folder, or None when it has none."""
    path = teacher_eval_path(task_dir)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON (line {e.lineno}: {e.msg}); rerun `main.py eval --eval_teacher`") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} should hold a JSON object; rerun `main.py eval --eval_teacher`")
    return data
