"""The results of a set of runs, from the files the runs leave behind (nothing is trained or evaluated here):

    results.csv   one row per run: task, variant (the run name), seed, env steps, wall seconds, the final student's
                  success on held-out episodes (final_eval.json), env steps at which evaluation first reached 0.9
    results.md    per task and variant, mean ± std over seeds, and the teacher alone on the same episodes (one row
                  per teacher of the runs, from a measurement of that very teacher: else the row says it is missing)

A run folder holds config.json and metrics.csv (written by training) and final_eval.json (written by a sweep's final
evaluation); a task folder may hold teacher_eval.json (`main.py eval --eval_teacher`, or a sweep).
"""
import csv
import io
import json
import math
import os
from collections import OrderedDict
from dataclasses import asdict, dataclass, fields
from typing import Optional

from utils.atomic import atomic_write
from utils.logger import number
from algos.experiments.run_files import read_config, read_metrics, split_run_name
from algos.run.teacher_eval import describe, find_teacher_eval, teacher_groups, teacher_label

FINAL_EVAL = "final_eval.json"


@dataclass
class RunRow:
    task: str
    variant: str
    seed: int
    iterations: int
    env_steps: int
    wall_seconds: float
    final_success: Optional[float]      # the final student on the held-out episodes of final_eval.json
    final_return: Optional[float]
    final_episodes: Optional[int]
    steps_to_threshold: Optional[int]   # env steps of the first periodic evaluation >= the threshold


def read_final_eval(run_dir):
    """The run's final_eval.json as data (a dict with an "overall" dict), or None when there is none (or it cannot be
    read, or is not such a dict)."""
    path = os.path.join(run_dir, FINAL_EVAL)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) and isinstance(data.get("overall"), dict) else None
    except (OSError, ValueError):
        return None


def run_row(run_dir, threshold=0.9):
    """The results row of one run folder (UserError when it has no metrics yet)."""
    rows = read_metrics(run_dir)
    config = read_config(run_dir)
    name, seed = split_run_name(os.path.basename(os.path.normpath(run_dir)))
    last = rows[-1]
    reached = next((int(float(r["env_steps"])) for r in rows
                    if (number(r.get("Test/Success Rate")) or 0.0) >= threshold), None)
    final = (read_final_eval(run_dir) or {}).get("overall", {})
    return RunRow(task=str(config.get("task") or os.path.basename(os.path.dirname(os.path.abspath(run_dir)))),
                  variant=str(config.get("savedir") or name), seed=int(config.get("seed", seed or 0)),
                  iterations=int(float(last["iteration"])), env_steps=int(float(last["env_steps"])),
                  wall_seconds=round(float(last.get("wall_time") or 0.0), 1), final_success=final.get("success"),
                  final_return=final.get("return"), final_episodes=final.get("episodes"), steps_to_threshold=reached)


def steps_text(value):
    """Env steps for a table: 1.52M, 840k, 600."""
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    return f"{value / 1e3:.0f}k" if value >= 1e3 else f"{value:.0f}"


def _mean_std(values, fmt=lambda v: f"{v:.2f}"):
    """'mean ± std' (population std) of the values that are not None, '-' when none is."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return fmt(mean)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return f"{fmt(mean)} ± {fmt(std)}"


def markdown(rows, teachers, threshold=0.9):
    """The per task and variant table (mean ± std over seeds), with the teacher alone per task."""
    groups = OrderedDict()
    for r in rows:
        groups.setdefault((r.task, r.variant), []).append(r)
    lines = [f"| task | variant | seeds | env steps | final success (held-out) | env steps to {threshold:g} success |",
             "|---|---|---|---|---|---|"]
    tasks = list(OrderedDict.fromkeys(r.task for r in rows))
    unfinished = False
    for task in tasks:
        for (t, variant), members in groups.items():
            if t != task:
                continue
            reached = [m.steps_to_threshold for m in members if m.steps_to_threshold is not None]
            to = _mean_std(reached, steps_text) + (f" ({len(reached)}/{len(members)} seeds)"
                                                   if len(reached) < len(members) else "") if reached else "never"
            episodes = {m.final_episodes for m in members if m.final_episodes}
            evaluated = sum(m.final_success is not None for m in members)
            unfinished = unfinished or evaluated < len(members)
            about = [f"{'/'.join(map(str, sorted(episodes)))} ep"] if episodes else []
            if 0 < evaluated < len(members):
                about.append(f"{evaluated} of {len(members)} seeds")
            seeds = ", ".join(f"{m.seed}{'*' if m.final_success is None else ''}" for m in members)
            lines.append(f"| {task} | {variant} | {seeds} | {_mean_std([m.env_steps for m in members], steps_text)} | "
                         f"{_mean_std([m.final_success for m in members])}"
                         f"{' (' + '; '.join(about) + ')' if about else ''} | {to} |")
        for label, measured, missing in teachers.get(task, []):
            figure = f"{float(measured['success_rate']):.2f} ({measured.get('num_eval', '?')} ep)" \
                if measured is not None else missing
            lines.append(f"| {task} | {label} | - | - | {figure} | - |")
    if unfinished:
        lines += ["", "\\* no held-out final evaluation (an unfinished run): its env steps are where it stopped"]
    return "\n".join(lines) + "\n"


def write_results(out_dir, rows, teachers, threshold=0.9):
    """results.csv and results.md in out_dir; returns their paths."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=[f.name for f in fields(RunRow)])
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    csv_path = atomic_write(os.path.join(out_dir, "results.csv"), text.getvalue(), what="results")
    md_path = atomic_write(os.path.join(out_dir, "results.md"), markdown(rows, teachers, threshold), what="results")
    return csv_path, md_path


def teacher_results(runs, env_seeds=None, episodes_per_seed=None):
    """{task: [(label, measurement or None, why it is missing)]}: the teacher alone for each distinct teacher of
    the runs [(task, name, task folder, config)], from its task folder's teacher_eval.json: only a measurement of
    that very teacher (answers, planner) counts, and, when given, on those env seeds and episodes per seed (a
    sweep's held-out episodes); otherwise the one on the most episodes."""
    groups = teacher_groups(runs)
    found = {}
    for group in groups:
        measured = find_teacher_eval(group["folder"], group["teacher"], env_seeds, episodes_per_seed)
        who = describe(group["teacher"])
        missing = f"not measured ({who} on these {episodes_per_seed} held-out episodes; a sweep without --report " \
                  f"measures it)" if episodes_per_seed else f"not measured ({who}; `main.py eval --eval_teacher` " \
                                                            f"measures it)"
        found.setdefault(group["task"], []).append((teacher_label(group, groups), measured, missing))
    return found
