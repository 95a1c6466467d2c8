"""The teacher-alone evaluation result of a task, stored next to its runs: log/ppo/<Task>/teacher_eval.json.

    {"task": "SimpleDoorKey", "success_rate": 0.98, "mean_return": 0.85, "mean_length": 17.2, "num_eval": 100}
"""
import json
import os

from utils.atomic import atomic_write
from utils.errors import UserError

TEACHER_EVAL_FILE = "teacher_eval.json"
REQUIRED_KEYS = ("task", "success_rate", "mean_return", "mean_length", "num_eval")


def teacher_eval_path(task_dir):
    return os.path.join(task_dir, TEACHER_EVAL_FILE)


def write_teacher_eval(task_dir, result_dict):
    """Write result_dict to <task_dir>/teacher_eval.json atomically; returns the path."""
    missing = [k for k in REQUIRED_KEYS if k not in result_dict]
    if missing:
        raise ValueError(f"teacher eval result lacks {', '.join(missing)}")
    return atomic_write(teacher_eval_path(task_dir), json.dumps(dict(result_dict), indent=2) + "\n",
                        what="teacher result")


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
