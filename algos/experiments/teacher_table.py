"""What a live LLM teacher is worth, as data: one row per (task, model, planner mode, candidate set), measured on
a plan cache so that a rerun asks the model nothing (bench/llm.py prints and writes the table).

    row = measure(TeacherSetting("ColoredDoorKey", "gemma3", "logprobs"), url, "log/bench_llm/plan_cache.json",
                  "log/bench_llm", episodes=100)
    rows.append(recorded_row("ColoredDoorKey", "official", "log/bench_llm", episodes=100))
    print(markdown(rows))

Columns (each a key of the row):
    parse_rate        valid answers / answers received (re-asks included); logprobs: texts whose one answer gave a
                      distribution / texts with more than one candidate plan (the others need no request)
    agreement         with the recorded answers of the official code (LavaDoorKey: SimpleDoorKey's table), per
                      recorded text: the probability mass both distributions give to the same first step of a plan
                      (the step the teacher acts on), i.e. 1 - total-variation distance between the first-step
                      distributions, averaged over the recorded texts
    top_agreement     fraction of the recorded texts whose most probable first step is the recorded one's
    seconds_per_text  mean seconds the model took per text it was asked (from the cache entries)
    texts             distinct observation texts asked (the recorded ones and those met in the episodes)
    teacher_success   the teacher alone on `episodes` held-out episodes (env seeds env_seed, env_seed + 1, ...)
"""
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from algos.config import Config
from algos.run.evaluate import evaluate
from planner import export_cache
from planner.factory import build_planner
from planner.live.llm_planner import entry_distribution
from teacher.mediator import parse_plan
from utils.errors import UserError
from utils.run_dir import task_dir
from planner.task_spec import load_recorded_answers, task_config

MODES = {"free": {}, "grammar": {"llm_grammar": True}, "logprobs": {"llm_plans": "logprobs"}}
CANDIDATES = "llm_candidates"  # the planner setting choosing the candidate plans, when this checkout has it
HELD_OUT_SEED = 2_000_000


@dataclass(frozen=True)
class TeacherSetting:
    task: str
    model: str                        # the name shown (and used in export names): smollm2, gemma3, a server model
    mode: str = "logprobs"            # a key of MODES
    candidates: Optional[str] = None  # a value of --llm_candidates; None: the default


def candidate_choices():
    """The values --llm_candidates accepts ([] when this checkout has no such setting)."""
    field = next((f for f in dataclasses.fields(Config) if f.name == CANDIDATES), None)
    return list(field.metadata.get("choices") or [field.default]) if field else []


def setting_config(setting, url, cache, logdir, episodes=100, env_seed=HELD_OUT_SEED, llm_model=None, n_ask=10,
                   llm_seed=0, llm_timeout=300.0, llm_max_tokens=64):
    """The Config of a teacher-alone evaluation with this setting's live LLM."""
    if setting.mode not in MODES:
        raise UserError(f"unknown planner mode {setting.mode!r}; choose from {', '.join(MODES)}")
    extra = dict(MODES[setting.mode])
    if setting.candidates is not None:
        if setting.candidates not in candidate_choices():
            raise UserError(f"candidate set {setting.candidates!r}: this checkout's --{CANDIDATES} accepts "
                            f"{', '.join(candidate_choices()) or 'nothing (no such setting)'}")
        extra[CANDIDATES] = setting.candidates
    return Config(task=task_config(setting.task)["name"], llm_url=url, llm_model=llm_model, n_ask=n_ask,
                  llm_seed=llm_seed, llm_timeout=llm_timeout, llm_max_tokens=llm_max_tokens, plan_cache=str(cache),
                  logdir=str(logdir), num_eval=episodes, env_seed_list=[env_seed], video=0, eval_teacher=True,
                  **extra)


def first_steps(dist):
    """{first option of each plan: probability} of a plan distribution [(plan, prob)]."""
    out = {}
    for plan, p in dist:
        options = parse_plan(plan)
        key = options[0] if options else ("wait", None)
        out[key] = out.get(key, 0.0) + p
    return out


def agreement(dist, recorded):
    """(1 - total-variation distance of the first steps, whether the most probable first steps are the same)."""
    a, b = first_steps(dist), first_steps(recorded)
    overlap = sum(min(a.get(k, 0.0), b.get(k, 0.0)) for k in set(a) | set(b))
    return overlap, max(a, key=a.get) == max(b, key=b.get)


def official_table(task):
    """The official recorded answers of a task, or None for a task without them (KeyInBox, any MiniGrid id)."""
    try:
        return load_recorded_answers(task)
    except UserError:
        return None


def agreement_scores(planner, table):
    """{"agreement", "top_agreement"} of a planner over the texts of a recorded table (asked of it if new); None
    for both when there is no table to agree with."""
    if not table:
        return {"agreement": None, "top_agreement": None}
    scores = [agreement(planner.plans(text), recorded) for text, recorded in table.items()]
    return {"agreement": sum(s for s, _ in scores) / len(scores),
            "top_agreement": sum(1 for _, same in scores if same) / len(scores)}


def cache_scores(group):
    """{"texts", "parse_rate", "seconds_per_text"} of the cache entries of one (task, model, settings)."""
    entries = group["entries"]
    if group["sampling"].get("mode") == "logprobs":  # the texts with a choice to make (one candidate: no request)
        asked = [e for e in entries if len(e.get("plans", [])) > 1]
        parse = sum(1 for e in asked if entry_distribution(e, "")) / len(asked) if asked else 1.0
    else:
        asked = entries
        received = sum(e.get("answers", 0) for e in entries)
        parse = sum(len(e.get("plans", [])) for e in entries) / received if received else 0.0
    timed = [e["seconds"] for e in asked if isinstance(e.get("seconds"), (int, float))]
    return {"texts": len(entries), "parse_rate": parse,
            "seconds_per_text": sum(timed) / len(timed) if timed else None}


def measure(setting, url, cache, logdir, episodes=100, env_seed=HELD_OUT_SEED, export=None, source=None, **llm):
    """One row of the table for a live LLM behind `url` (see the module's doc for the columns). The answers asked
    land in the plan cache `cache`; with `export` (a table name or a .json file) the task's answers of this
    setting are also written as a recorded-answer table (planner.export_cache). llm: setting_config's LLM settings."""
    config = setting_config(setting, url, cache, logdir, episodes, env_seed, **llm)
    config.validate()
    task = task_config(config.task)
    planner = build_planner(config, task, task_dir(config.logdir, task["name"]))
    try:
        row = {"task": task["name"], "model": setting.model, "mode": setting.mode,
               "candidates": setting.candidates or (getattr(config, CANDIDATES, None) or "-"),
               "server_model": planner.model}
        row.update(agreement_scores(planner, official_table(task)))
        sampling = planner.sampling
    finally:
        planner.close()
    result = evaluate(config, given={})
    row.update(teacher_success=result.overall["success"], teacher_return=result.overall["return"],
               episodes=result.overall["episodes"], env_seed=env_seed)
    cache = Path(cache)
    group = export_cache.select(export_cache.settings_groups(cache, task), task["name"], cache,
                                model=row["server_model"], sampling=sampling)
    row.update(cache_scores(group))
    if export:
        path, _, _ = export_cache.export(cache, task["name"], export, model=row["server_model"], sampling=sampling,
                                         source=source)
        row["exported"] = str(path)
    return row


def recorded_row(task_name, answers, logdir, episodes=100, env_seed=HELD_OUT_SEED):
    """The same columns for a recorded-answer table (--answers NAME): agreement with the official table, the
    teacher alone on the same episodes; no model asked."""
    task = task_config(task_name)
    config = Config(task=task["name"], answers=answers, logdir=str(logdir), num_eval=episodes,
                    env_seed_list=[env_seed], video=0, eval_teacher=True)
    config.validate()
    planner = build_planner(config, task, None)
    row = {"task": task["name"], "model": f"recorded: {answers}", "mode": "table", "candidates": "-",
           "parse_rate": None, "seconds_per_text": None, "texts": len(planner.table)}
    row.update(agreement_scores(planner, official_table(task)))
    result = evaluate(config, given={})
    row.update(teacher_success=result.overall["success"], teacher_return=result.overall["return"],
               episodes=result.overall["episodes"], env_seed=env_seed,
               missing_texts=result.planner_stats.get("missing_distinct", 0))
    return row


COLUMNS = [("task", "task", "{}"), ("model", "model", "{}"), ("mode", "planner", "{}"),
           ("candidates", "candidates", "{}"), ("parse_rate", "parse rate", "{:.2f}"),
           ("agreement", "agreement (1 - TV, first step)", "{:.2f}"), ("top_agreement", "top step agrees", "{:.2f}"),
           ("seconds_per_text", "s per text", "{:.1f}"), ("texts", "texts asked", "{}"),
           ("teacher_success", "teacher alone", "{:.2f}")]


def markdown(rows):
    """The rows as a markdown table (a missing value is -)."""
    episodes = sorted({r.get("episodes") for r in rows if r.get("episodes")})
    head = [title + (f" ({'/'.join(map(str, episodes))} ep.)" if key == "teacher_success" and episodes else "")
            for key, title, _ in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = [fmt.format(r[key]) if r.get(key) is not None else "-" for key, _, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


