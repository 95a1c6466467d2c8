"""Recorded-answer tables, selected by name (--answers): the official ChatGLM answers, or a live LLM's answers
exported from a plan cache (python -m planner.export_cache), with where they came from.

    default                   the task's own table: "default_answers" of its configs/tasks.json entry (official
                              when absent: the paper's four tasks; gemma3-270m for the tasks added since)
    official                  configs/recorded_answers.json: the official code's table, keyed by the task's
                              "answers" name in configs/tasks.json (LavaDoorKey reads SimpleDoorKey's)
    NAME                      configs/answers/NAME.json, a table exported from a live LLM
    PATH.json (or a/path)     any file in either format

An exported table (format "llm4teach-answers") holds one entry per task, keyed by the task's name (each task has
its own prompt, so its own answers; a task without one reads the entry of its "answers" name, as a variant that
shares another task's prompt and texts does: MiniWorld-PickupObjects-LookDown-v0 reads MiniWorld-PickupObjects-v0's):
    {"format": "llm4teach-answers", "version": 1, "name": "gemma3-270m", "source": "...",
     "tasks": {"SimpleDoorKey": {"provenance": {"model": ..., "planner": "logprobs", "prompt_sha256": ...,
                                                "exported": DATE, "n_ask": ..., "temperature": ..., ...},
                                 "answers": {TEXT: {"plans": [...], "probs": [...]}}}}}
A text missing from a table is answered by exploring and counted (Teacher/Missing Texts), as with the official one.
"""
import json
import re
from pathlib import Path

from utils.atomic import atomic_write
from utils.errors import UserError
from planner.task_spec import CONFIG_DIR, load_recorded_answers, parse_answer_table
from utils.json_file import load_json

OFFICIAL = "official"
DEFAULT = "default"
ANSWERS_DIR = CONFIG_DIR / "answers"
FORMAT = "llm4teach-answers"
VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def shipped_names():
    """The table names --answers accepts: official and every configs/answers/NAME.json (and `default`)."""
    return [OFFICIAL] + sorted(p.stem for p in ANSWERS_DIR.glob("*.json"))


def task_table(task_cfg, value=DEFAULT):
    """The table --answers VALUE means for one task: `default` is the task's "default_answers" (else official)."""
    return str(task_cfg.get("default_answers", OFFICIAL)) if value == DEFAULT else value


def is_path(value):
    """A value naming a file rather than a shipped table: it has a folder part or ends in .json."""
    value = str(value)
    return "/" in value or "\\" in value or value.endswith(".json")


def table_path(value):
    """The file of --answers VALUE (a name or a path); it need not exist yet (for writing)."""
    value = str(value)
    if value == DEFAULT:
        raise UserError("--answers default names each task's own table, not one file; choose a table name")
    if value == OFFICIAL:
        return CONFIG_DIR / "recorded_answers.json"
    if is_path(value):
        return Path(value)
    if not _NAME.match(value):
        raise UserError(f"--answers {value!r}: expected a table name (letters, digits, . _ -) or a .json file")
    return ANSWERS_DIR / f"{value}.json"


def existing_table_path(value):
    """table_path(value), which must exist (UserError naming the shipped tables otherwise)."""
    path = table_path(value)
    if not path.is_file():
        if is_path(value):
            raise UserError(f"--answers file not found: {value}")
        raise UserError(f"--answers {value}: no such answer table; shipped: {', '.join(shipped_names())} "
                        "(or give a .json file)")
    return path


def read_exported(path):
    """An exported table file as data (checked), or None when the file is in the official format."""
    data = load_json(path, "recorded-answer file")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    if data.get("version") != VERSION:
        raise UserError(f"answer table {path} has version {data.get('version')!r}, expected {VERSION}")
    if not isinstance(data.get("tasks"), dict):
        raise UserError(f"answer table {path}: 'tasks' must be an object of tasks")
    return data


def load_answers(task_cfg, value=DEFAULT):
    """{text: [(plan, prob), ...]} of one task from --answers VALUE (UserError, one line, when bad)."""
    value = task_table(task_cfg, value)
    path = existing_table_path(value)
    data = read_exported(path)
    if data is None:
        return load_recorded_answers(task_cfg, path)
    entry = _task_entry(data, task_cfg)
    if not isinstance(entry, dict):
        shown = ", ".join(data["tasks"]) or "none"
        raise UserError(f"answer table {path} has no answers for task {task_cfg['name']} (it has: {shown})")
    return parse_answer_table(entry.get("answers"), f"{path} (tasks.{task_cfg['name']}.answers)")


def provenance(task_cfg, value=DEFAULT):
    """Where one task's answers of --answers VALUE came from: a dict (the official table: its 'source' text)."""
    value = task_table(task_cfg, value)
    path = existing_table_path(value)
    data = read_exported(path)
    if data is None:
        source = load_json(path, "recorded-answer file")
        return {"source": source.get("source", "") if isinstance(source, dict) else ""}
    entry = _task_entry(data, task_cfg)
    return dict(entry.get("provenance") or {}) if isinstance(entry, dict) else {}


def _task_entry(data, task_cfg):
    """An exported table's entry for a task: its own, else its "answers" name's (a variant asked the same prompt)."""
    return data["tasks"].get(task_cfg["name"], data["tasks"].get(task_cfg.get("answers")))


def write_task(value, task_name, answers, task_provenance, source=""):
    """Write (or replace) one task's answers in the table --answers VALUE names, keeping its other tasks;
    returns the path. answers: {text: {"plans": [...], "probs": [...]}}."""
    if value == OFFICIAL:
        raise UserError("the official table is not written by an export; choose another name")
    path = table_path(value)
    parse_answer_table(answers, f"answers of task {task_name} for {path}")  # what --answers will check
    data = {"format": FORMAT, "version": VERSION, "name": path.stem, "source": source, "tasks": {}}
    if path.exists():
        old = read_exported(path)
        if old is None:
            raise UserError(f"{path} exists and is not an exported answer table (format {FORMAT!r}); choose another")
        data["tasks"] = old["tasks"]
        data["source"] = old.get("source") or source
    provenance = {**task_provenance, **({"source": source} if source else {})}  # each task says where it came from
    data["tasks"][task_name] = {"provenance": provenance, "answers": answers}
    data["tasks"] = dict(sorted(data["tasks"].items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(str(path), json.dumps(data, indent=1, ensure_ascii=False) + "\n", what="answer table")
    return path
