"""The results table (markdown, to stdout) and the learning-curve figure from finished runs; trains nothing.

    python bench/results.py                                  # runs under log/ppo/SimpleDoorKey/ -> docs/curves.png
    python bench/results.py log/ppo/SimpleDoorKey/llm4teach-1 log/ppo/SimpleDoorKey/ppo-1 --out /tmp/c.png
    python bench/results.py --no_plot --threshold 0.8

One row per run group (task + run folder name without -<seed>), mean ± std over seeds of the last evaluation
(Test/... values; training values, marked "(train)", for runs never evaluated), the env steps at which each seed
first reached --threshold success, plus a "teacher alone" row per task from <task folder>/teacher_eval.json.
"""
import argparse
import os
import platform
import sys
from collections import OrderedDict

import numpy as np

from utils.errors import UserError
from utils.plot import group_runs, load_runs, plot_runs
from utils.teacher_eval import read_teacher_eval

DEFAULT_RUNS = os.path.join("log", "ppo", "SimpleDoorKey")


def method_name(run):
    coef = run.config.get("teacher_coef")
    try:
        coef = float(coef)
    except (TypeError, ValueError):
        return run.name
    return f"{'LLM4Teach' if coef > 0 else 'plain PPO'} ({run.name})"


def mean_std(values, digits=2):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def final_value(run, last):
    """Mean of the run's last `last` logged values (evaluations where it has them)."""
    return float(np.mean(run.y[-last:]))


def steps_to(run, threshold):
    hit = np.nonzero(run.y >= threshold)[0]
    return float(run.x[hit[0]]) if len(hit) else None


def fmt_steps(v):
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e3:
        return f"{v / 1e3:.0f}k"
    return f"{v:.0f}"


def results_table(paths, threshold=0.9, last=1):
    """The markdown table (a string) for the runs below `paths`."""
    success = group_runs(load_runs(paths, "success"))
    returns = {(r.task, r.name, r.path): r for r in load_runs(paths, "return")}
    lines = [f"| Task | Method | Seeds | Env steps | Success rate | Return | Env steps to {threshold:g} success |",
             "|---|---|---|---|---|---|---|"]
    task_dirs = OrderedDict()
    for (task, name), members in success.items():
        for r in members:
            task_dirs.setdefault(task, os.path.dirname(os.path.abspath(r.path)))
        rets = [returns.get((r.task, r.name, r.path)) for r in members]
        train_only = not any(r.uses_test for r in members)
        succ = mean_std([final_value(r, last) for r in members]) + (" (train)" if train_only else "")
        ret = mean_std([final_value(r, last) for r in rets if r is not None])
        reached = [s for s in (steps_to(r, threshold) for r in members) if s is not None]
        if reached:
            to = fmt_steps(np.mean(reached)) + (f" ({len(reached)}/{len(members)} seeds)" if len(reached) < len(members) else "")
        else:
            to = "not reached"
        trained = fmt_steps(np.mean([r.x[-1] for r in members]))
        lines.append(f"| {task} | {method_name(members[0])} | {len(members)} | {trained} | {succ} | {ret} | {to} |")
    for task, task_dir in task_dirs.items():
        teacher = read_teacher_eval(task_dir)
        if teacher is None:
            lines.append(f"| {task} | teacher alone | - | - | (no teacher_eval.json: run `main.py eval --eval_teacher`) | - | - |")
            continue
        n = teacher.get("num_eval", "?")
        lines.append(f"| {task} | teacher alone ({n} episodes) | - | - | {float(teacher['success_rate']):.2f} | "
                     f"{float(teacher['mean_return']):.2f} | - |")
    return "\n".join(lines)


def machine_line():
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPU threads, {gpu}; "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run_dirs", nargs="*", default=[DEFAULT_RUNS],
                   help=f"run folders or folders above runs (default: {DEFAULT_RUNS})")
    p.add_argument("--out", default=os.path.join("docs", "curves.png"), help="figure to write (default: docs/curves.png)")
    p.add_argument("--no_plot", action="store_true", help="print the table only")
    p.add_argument("--threshold", type=float, default=0.9, help="success rate for the 'env steps to' column")
    p.add_argument("--last", type=int, default=1, help="average the last N logged values per seed (default 1)")
    args = p.parse_args(argv)
    try:
        if args.last < 1:
            raise UserError("--last must be at least 1")
        print(results_table(args.run_dirs, args.threshold, args.last))
        print()
        print(f"Machine: {machine_line()}")
        print(f"Command: python bench/results.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
        if not args.no_plot:
            out, _ = plot_runs(args.run_dirs, out=args.out)
            print(f"Figure: {out}")
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
