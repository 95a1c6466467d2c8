"""The results table (markdown, to stdout) and the learning-curve figure of any finished runs; trains nothing.

    python bench/results.py log/paper                         # every run below a folder -> results table + figure
    python bench/results.py log/ppo/SimpleDoorKey/llm4teach-1 log/ppo/SimpleDoorKey/ppo-1 --out /tmp/c.png

The same table as `main.py sweep --report` (algos.experiments.results), for runs made any way: one row per task and run name
(the folder name without -<seed>), mean ± std over seeds; the final success comes from a sweep's final_eval.json
where a run has one; the teacher alone of the runs' own teacher from <task folder>/teacher_eval.json.
"""
import argparse
import os
import sys

from utils.errors import UserError
from utils.machine import machine_line
from algos.experiments.plot import plot_runs
from algos.experiments.run_files import find_runs, read_config
from algos.experiments.results import markdown, run_row, teacher_results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", help="run folders or folders above runs")
    p.add_argument("--out", default=None, help="also draw the curves into this image")
    p.add_argument("--threshold", type=float, default=0.9, help="success rate for the 'env steps to' column")
    args = p.parse_args(argv)
    try:
        rows, runs = [], []
        for run_dir, _ in find_runs(args.run_dirs):
            row = run_row(run_dir, args.threshold)
            rows.append(row)
            runs.append((row.task, row.variant, os.path.dirname(os.path.abspath(run_dir)), read_config(run_dir)))
        print(markdown(rows, teacher_results(runs), args.threshold))
        print(f"Machine: {machine_line()}")
        if args.out:
            out, _ = plot_runs(args.run_dirs, out=args.out)
            print(f"Figure: {out}")
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
