"""The teacher-alone evaluations of a task, stored next to its runs: log/ppo/<Task>/teacher_eval.json, one
measurement per teacher and episodes (measuring the same teacher on the same episodes again replaces it; another
teacher or other episodes are kept beside it, never over it).

    {"format": "llm4teach-teacher-eval", "version": 2, "task": "SimpleDoorKey",
     "measurements": [{"teacher": {"answers": "official", "soft_planner": false, "goto_avoids_lava": false},
                       "env_seeds": [2000000], "episodes_per_seed": 100,
                       "success_rate": 0.98, "mean_return": 0.85, "mean_length": 17.2, "num_eval": 100,
                       "evaluated_at": "2025-01-01T12:00:00"}]}

"teacher" is what changes the teacher's actions (teacher_identity: the recorded-answer table, or the live LLM and
how it is asked; the planner's soft/hard mode, the lava rule); a run's config.json gives the same identity, so a
report shows the teacher of its own runs only (find_teacher_eval). A file of the first format (one flat result, with
nothing to say what it measured) reads as one measurement of an unknown teacher, which matches no run.
"""
import json
import os
import time

from utils.atomic import atomic_write
from utils.errors import UserError
from utils.file_lock import locked

TEACHER_EVAL_FILE = "teacher_eval.json"
FORMAT = "llm4teach-teacher-eval"
VERSION = 2
RESULT_KEYS = ("success_rate", "mean_return", "mean_length", "num_eval")
# the live LLM's settings that change its answers (not how long it may take, nor where its cache is)
LLM_KEYS = ("llm_backend", "llm_model", "llm_plans", "n_ask", "llm_temperature", "llm_seed", "llm_grammar",
            "llm_candidates", "llm_max_tokens", "llm_max_reasks")


def teacher_eval_path(task_dir):
    return os.path.join(task_dir, TEACHER_EVAL_FILE)


def _setting(config, name):
    """A setting of a Config or of a config.json mapping (an older file without it: the default)."""
    if isinstance(config, dict):
        if name in config:
            return config[name]
        from teacher.config import TeacherConfig
        return getattr(TeacherConfig(), name)
    return getattr(config, name)


def _answers(config):
    """The recorded-answer table as one name: `default` resolved to the task's table, a file as its absolute path."""
    from planner.answer_tables import is_path, task_table
    value = str(_setting(config, "answers"))
    if is_path(value):
        return os.path.abspath(value)
    try:
        from planner.task_spec import task_config
        return task_table(task_config(str(_setting(config, "task"))), value)
    except UserError:  # a task this checkout does not know: the name as written
        return value


def teacher_identity(config):
    """What the teacher of a run (Config or config.json data) is, as plain data: equal for two configs whose
    teachers act alike on the same episodes."""
    llm = not _setting(config, "offline_planner") and \
        (bool(_setting(config, "llm_url")) or _setting(config, "llm_backend") == "zhipu")
    out = {k: _setting(config, k) for k in LLM_KEYS} if llm else {"answers": _answers(config)}
    out.update(soft_planner=bool(_setting(config, "soft_planner")),
               goto_avoids_lava=bool(_setting(config, "goto_avoids_lava")))
    if _reduced_texts(config, llm):  # named only where reduced, so full-text measurements keep their identity
        out["texts"] = "reduced"
    generalise = _setting(config, "llm_generalise") if llm else 0  # named only where on, for the same reason
    if generalise:
        out["generalise"] = float(generalise)
    return out


def _reduced_texts(config, llm):
    from planner.task_spec import task_config, texts_task
    # a config.json from before --teacher_texts: its teacher was asked full texts
    texts = config.get("teacher_texts", "full") if isinstance(config, dict) else config.teacher_texts
    try:
        return texts_task(task_config(str(_setting(config, "task"))), texts, llm).get("texts") == "reduced"
    except UserError:  # a task this checkout does not know, or one without reduced texts
        return False


def describe(teacher):
    """A teacher identity in a few words (for messages)."""
    if not teacher:
        return "an unknown teacher"
    source = f"LLM {teacher.get('llm_model') or 'the server model'}" if "answers" not in teacher else \
        f"answers {os.path.basename(str(teacher['answers']))}"
    return source + (", soft planner" if teacher.get("soft_planner") else "")


def _measurements(data, path):
    """The measurements of a teacher_eval.json's data; a first-format file (a flat result) is one of unknown teacher."""
    if not isinstance(data, dict):
        raise UserError(f"{path} should hold a JSON object; delete it and rerun `main.py eval --eval_teacher`")
    if "measurements" not in data:
        return [{**data, "teacher": None}] if all(k in data for k in RESULT_KEYS) else []
    items = data["measurements"]
    if data.get("format") != FORMAT or not isinstance(items, list) or \
            not all(isinstance(m, dict) and all(k in m for k in RESULT_KEYS) for m in items):
        raise UserError(f"{path} is not a teacher evaluation file ({FORMAT}); delete it and rerun "
                        f"`main.py eval --eval_teacher`")
    return items


def read_teacher_evals(task_dir):
    """Every stored teacher-alone measurement of a task folder ([] when it has none)."""
    path = teacher_eval_path(task_dir)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return []
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON (line {e.lineno}: {e.msg}); delete it and rerun "
                        f"`main.py eval --eval_teacher`") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    return _measurements(data, path)


def find_teacher_eval(task_dir, teacher, env_seeds=None, episodes_per_seed=None):
    """The stored measurement of this teacher identity (and, when given, on these env seeds and episodes per seed);
    with several, the one on the most episodes, then the newest. None when there is none."""
    found = [m for m in read_teacher_evals(task_dir) if m.get("teacher") == teacher and
             (env_seeds is None or m.get("env_seeds") == list(env_seeds)) and
             (episodes_per_seed is None or m.get("episodes_per_seed") == episodes_per_seed)]
    return max(found, key=lambda m: (m.get("num_eval", 0), str(m.get("evaluated_at", ""))), default=None)


def record_teacher_eval(task_dir, config, overall):
    """Store the teacher of `config` measured on config.env_seed_list x config.num_eval episodes (`overall`: the
    evaluation's summary) in <task_dir>/teacher_eval.json, replacing only a measurement of the same teacher on the
    same episodes. Returns (path, how many measurements the file now holds)."""
    path = teacher_eval_path(task_dir)
    entry = {"teacher": teacher_identity(config), "env_seeds": list(config.env_seed_list),
             "episodes_per_seed": int(config.num_eval), "success_rate": float(overall["success"]),
             "mean_return": float(overall["return"]), "mean_length": float(overall["length"]),
             "num_eval": int(overall["episodes"]), "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    same = ("teacher", "env_seeds", "episodes_per_seed")
    os.makedirs(task_dir, exist_ok=True)
    with locked(path + ".lock"):  # two evaluations of one task (a sweep's teachers) add theirs in turn
        kept = [m for m in read_teacher_evals(task_dir) if any(m.get(k) != entry[k] for k in same)]
        data = {"format": FORMAT, "version": VERSION, "task": str(config.task), "measurements": kept + [entry]}
        atomic_write(path, json.dumps(data, indent=2) + "\n", what="teacher result")
    return path, len(kept) + 1


def teacher_groups(runs):
    """The distinct teachers of runs: runs [(task, name, task folder, config)] (a Config, or config.json data; a run
    without a teacher, teacher_coef 0, or whose config is unknown, has none) -> [{"task", "folder", "teacher" (the
    identity), "names" (the runs' names, in order), "config" (the first run's)}], in order of first appearance."""
    groups = {}
    for task, name, folder, config in runs:
        coef = config.get("teacher_coef") if isinstance(config, dict) else config.teacher_coef
        if not isinstance(coef, (int, float)) or not coef > 0:
            continue
        teacher = teacher_identity(config)
        group = groups.setdefault((task, json.dumps(teacher, sort_keys=True)),
                                  {"task": task, "folder": folder, "teacher": teacher, "names": [], "config": config})
        if name not in group["names"]:
            group["names"].append(name)
    return list(groups.values())


def teacher_label(group, groups):
    """'teacher alone', or with several teachers in the group's task, 'teacher alone (<its runs' names>)'."""
    several = sum(g["task"] == group["task"] for g in groups) > 1
    return "teacher alone" + (f" ({', '.join(group['names'])})" if several else "")
