"""Task settings, the teacher's vocabulary, prompts and recorded LLM answers: data files under configs/, loaded
and checked here.

A task is an entry of configs/tasks.json, or any registered minigrid environment id (e.g.
MiniGrid-DoorKey-16x16-v0), which gets the generic entry: the "minigrid" naming rule (colours, door states, the
mission), the "minigrid" prompt, and no recorded answers (a live LLM, or a table of its answers, teaches it); a
live LLM teaches it with reduced texts (its "reduced" entry: teacher/reduced_text.py, --teacher_texts).
"""
import math
from functools import lru_cache
from pathlib import Path

from env import UnknownEnvironment, is_miniworld, minigrid_class
from utils.errors import UserError
from utils.json_file import load_json

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
VOCABULARY_FILE = CONFIG_DIR / "vocabulary.json"
VERBS = ("go to", "pick up", "open")        # besides explore and drop (of what is held)
TASK_GROUPS = ("paper", "more", "3d")
WORLDS = ("minigrid", "miniworld")           # the simulator a task lives in (teacher.policy.TeacherSpec.make_teacher)
OPTION_STYLES = ("official", "careful")      # official: go-to may cross lava, drop where standing (LLM4Teach code)
SCORES = ("success", "return")              # what the adaptive schedule compares (success rate, or mean return)
GENERIC = {"prompt": "minigrid", "object_names": "minigrid", "options": "careful",
           "reduced": {"prompt": "minigrid_reduced", "object_names": "minigrid_reduced"}}
GENERIC_3D = {"prompt": "miniworld", "object_names": "miniworld", "options": "careful", "world": "miniworld",
              "llm_candidates": "carry"}
NAMING_FIELDS = {"colours": ("none", "shown", "anonymised", "relevant"), "doors": ("plain", "numbered"),
                 "duplicates": ("first", "nearest")}
NAMING_FLAGS = ("door_states", "mission", "blocking")
TEXTS = ("auto", "full", "reduced")           # --teacher_texts (texts_task)


@lru_cache(maxsize=None)
def vocabulary():
    """configs/vocabulary.json, checked: {"kinds": {kind: [verbs]}, "terrain": [...], "naming": {rule: {...}}}."""
    data = load_json(VOCABULARY_FILE, "vocabulary")
    where = f"vocabulary {VOCABULARY_FILE}"
    kinds, terrain, naming = (data.get(k) if isinstance(data, dict) else None for k in ("kinds", "terrain", "naming"))
    if not isinstance(kinds, dict) or not all(isinstance(v, list) and set(v) <= set(VERBS) for v in kinds.values()):
        raise UserError(f"{where}: 'kinds' must map object kinds to lists of verbs out of {VERBS}")
    if not isinstance(terrain, list) or not all(isinstance(t, str) for t in terrain):
        raise UserError(f"{where}: 'terrain' must be a list of object kinds")
    if not isinstance(naming, dict) or not naming:
        raise UserError(f"{where}: 'naming' must be an object of naming rules")
    for name, rule in naming.items():
        ok = isinstance(rule, dict) and isinstance(rule.get("kinds"), list) and set(rule["kinds"]) <= set(kinds) \
            and all(rule.get(f) in allowed for f, allowed in NAMING_FIELDS.items()) \
            and all(isinstance(rule.get(f), bool) for f in NAMING_FLAGS)
        if not ok:
            raise UserError(f"{where}: naming rule {name} needs 'kinds' (out of {', '.join(kinds)}), "
                            + ", ".join(f"'{f}' (one of {a})" for f, a in NAMING_FIELDS.items())
                            + ", and true/false " + ", ".join(f"'{f}'" for f in NAMING_FLAGS))
    return data


def naming_rule(name):
    """The naming rule called `name` (a dict, see configs/vocabulary.json)."""
    rules = vocabulary()["naming"]
    if name not in rules:
        raise UserError(f"unknown naming rule {name!r}; the rules are: {', '.join(rules)}")
    return rules[name]


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
        rules = tuple(vocabulary()["naming"])
        if cfg["object_names"] not in rules:
            raise UserError(f"configs/tasks.json: task {name}: object_names must be one of {rules}")
        if cfg.get("group", "paper") not in TASK_GROUPS:
            raise UserError(f"configs/tasks.json: task {name}: group must be one of {TASK_GROUPS}")
        if cfg.get("options", "careful") not in OPTION_STYLES:
            raise UserError(f"configs/tasks.json: task {name}: options must be one of {OPTION_STYLES}")
        if cfg.get("world", "minigrid") not in WORLDS:
            raise UserError(f"configs/tasks.json: task {name}: world must be one of {WORLDS}")
        if cfg.get("score", "success") not in SCORES:
            raise UserError(f"configs/tasks.json: task {name}: score must be one of {SCORES}")
        reduced = cfg.get("reduced")
        if reduced is not None and not (isinstance(reduced, dict) and set(reduced) == {"prompt", "object_names"}
                                        and reduced["object_names"] in rules and isinstance(reduced["prompt"], str)):
            raise UserError(f"configs/tasks.json: task {name}: reduced must be {{\"prompt\": ..., \"object_names\": "
                            f"one of {rules}}}")
    return tasks


def texts_task(task, texts, live):
    """The task as its teacher describes it: with its reduced texts' prompt and naming rule (its "reduced" entry)
    where `texts` is "reduced", or "auto" and a live LLM teaches (`live`); unchanged otherwise, and for tasks without
    reduced texts (UserError where "reduced" is asked of one)."""
    if texts == "full" or (texts == "auto" and not live) or task.get("texts") == "reduced":  # (already reduced)
        return task
    if "reduced" not in task:
        if texts == "reduced":
            raise UserError(f"--teacher_texts reduced: task {task.get('name')} has no reduced texts (its "
                            f"configs/tasks.json entry has no 'reduced')")
        return task
    return dict(task, **task["reduced"], texts="reduced", full_object_names=task["object_names"])


def task_names(group="paper"):
    """Names of the configured tasks of a group ("paper": the four of the paper, which `--tasks all` and the
    benchmarks mean; "more": the tasks added since; None: every configured task)."""
    return [name for name, cfg in all_tasks().items() if group is None or cfg.get("group", "paper") == group]


def registered_minigrid_id(name):
    """True if `name` is the gymnasium id of a registered minigrid environment (env.minigrid_class decides): one
    of minigrid's own, or "module:ID" where importing the module registers ID (a user's MiniGridEnv subclass)."""
    try:
        minigrid_class(str(name))
    except UnknownEnvironment:
        return False
    except ValueError as e:
        raise UserError(str(e)) from None
    return True


def task_config(name):
    """Settings of one task: a configured one (by name or by its env id, case-insensitively), else the generic
    entry of a registered minigrid id; unknown names list the valid ones."""
    tasks = all_tasks()
    for key, cfg in tasks.items():
        if str(name).lower() in (key.lower(), cfg["env_id"].lower()):
            return dict({"options": "careful"}, **cfg, name=key)
    if is_miniworld(name):
        import gymnasium as gym
        from env.miniworld import load
        load()  # registers the MiniWorld ids (UserError where it cannot render)
        if str(name) in gym.registry:
            return dict(GENERIC_3D, env_id=str(name), answers=str(name), name=str(name), generic=True)
    elif registered_minigrid_id(name):
        return dict(GENERIC, env_id=str(name), answers=str(name), name=str(name), generic=True)
    raise UserError(f"unknown task '{name}'; valid tasks: {', '.join(tasks)}, or any registered MiniGrid or "
                    "MiniWorld id (python main.py tasks)")


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
        raise UserError(f"no recorded answers for task {task_cfg.get('name', task_cfg['answers'])}: {path} has no "
                        f"table tasks.{task_cfg['answers']}; teach it with a live LLM (--llm_url URL; "
                        "python -m planner.local_llm starts one) or a table of its answers (--answers NAME)") from None
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
