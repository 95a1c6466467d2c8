"""Task settings, prompts and recorded LLM answers: data files under configs/, loaded and checked here."""
import json
import math
from functools import lru_cache
from pathlib import Path

from utils.errors import UserError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
OBJECT_NAMING = ("plain", "anonymised_colours", "numbered_doors")


def load_json(path, what):
    """Read a JSON file or raise a one-line UserError naming the file and the problem."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{what} {path} is not valid JSON (line {e.lineno}: {e.msg})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {what} {path}: {e}") from None


@lru_cache(maxsize=None)
def all_tasks():
    tasks = load_json(CONFIG_DIR / "tasks.json", "task settings")
    if not isinstance(tasks, dict) or not tasks:
        raise UserError("configs/tasks.json must be a JSON object of tasks")
    for name, cfg in tasks.items():
        if not isinstance(cfg, dict):
            raise UserError(f"configs/tasks.json: task {name} must be an object")
        for field in ("env_id", "prompt", "answers", "object_names"):
            if not isinstance(cfg.get(field), str):
                raise UserError(f"configs/tasks.json: task {name} needs a string '{field}'")
        if cfg["object_names"] not in OBJECT_NAMING:
            raise UserError(f"configs/tasks.json: task {name}: object_names must be one of {OBJECT_NAMING}")
    return tasks


def task_names():
    return list(all_tasks())


def task_config(name):
    """Settings of one task, looked up case-insensitively; unknown names list the valid ones."""
    tasks = all_tasks()
    for key, cfg in tasks.items():
        if key.lower() == str(name).lower():
            return dict(cfg, name=key)
    raise UserError(f"unknown task '{name}'; valid tasks: {', '.join(tasks)}")


def load_prompt(task_cfg, path=None):
    """(system prompt, settings) for a task: system = description + worked example."""
    path = path or CONFIG_DIR / "prompts.json"
    data = load_json(path, "prompt file")
    entry = data.get("tasks", {}).get(task_cfg["prompt"]) if isinstance(data, dict) and \
        isinstance(data.get("tasks"), dict) else None
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("description", "example")):
        raise UserError(f"prompt file {path}: tasks.{task_cfg['prompt']} needs a string 'description' and a string "
                        "'example'")
    return entry["description"] + entry["example"]


def load_recorded_answers(task_cfg, path=None):
    """Recorded plan distribution per observation text: {text: [(plan, prob), ...]}, probabilities normalised."""
    path = path or CONFIG_DIR / "recorded_answers.json"
    data = load_json(path, "recorded-answer file")
    try:
        table = data["tasks"][task_cfg["answers"]]
    except (KeyError, TypeError):
        raise UserError(f"recorded-answer file {path} has no table tasks.{task_cfg['answers']}") from None
    return parse_answer_table(table, f"{path} (tasks.{task_cfg['answers']})")


def parse_answer_table(table, where):
    """Check a {text: {"plans": [...], "probs": [...]}} table and normalise each distribution."""
    if not isinstance(table, dict):
        raise UserError(f"{where}: expected an object mapping texts to plans")
    out = {}
    for text, entry in table.items():
        plans = entry.get("plans") if isinstance(entry, dict) else None
        probs = entry.get("probs") if isinstance(entry, dict) else None
        if (not isinstance(plans, list) or not isinstance(probs, list) or len(plans) != len(probs) or not plans
                or not all(isinstance(p, str) for p in plans)
                or not all(isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p) and p >= 0
                           for p in probs)
                or not 0 < sum(probs) < math.inf):
            raise UserError(f"{where}: entry {text!r} needs equal-length 'plans' (strings) and 'probs' (finite, "
                            "non-negative, sum > 0)")
        total = float(sum(probs))
        out[text] = [(plan.strip(), p / total) for plan, p in zip(plans, probs)]
    return out
