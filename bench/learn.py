"""Learning benchmark: LLM4Teach vs plain PPO (teacher term off) on one task for a fixed env-step budget.

    python bench/learn.py                                  # SimpleDoorKey, 200k env steps, seed 0
    python bench/learn.py --budget 150000 --seeds 0 1 --variants llm4teach

Each variant trains with main.py's defaults (recorded LLM answers) and evaluates 30 episodes every 10 iterations;
then the final student is evaluated on 100 held-out episodes. Prints env steps and wall seconds at which the
periodic evaluation first reached 0.9 and 0.95 success, and the final success.
"""
import argparse
import contextlib
import io
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VARIANTS = {"llm4teach": [], "plain_ppo": ["--teacher_coef", "0"]}


def first_reaching(rows, threshold):
    for r in rows:
        value = r.get("Test/Success Rate", "")
        if value != "" and float(value) >= threshold:
            return int(r["env_steps"]), float(r["wall_time"])
    return None, None


def main():
    import csv
    import main as cli
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="SimpleDoorKey")
    p.add_argument("--budget", type=int, default=200_000, help="env steps per run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--logdir", default="log/bench")
    p.add_argument("--extra", default="", help="more train flags, e.g. '--num_envs 8'")
    args = p.parse_args()
    print("| variant | seed | env steps | wall s | eval success (100 held-out ep) | steps to 0.9 | s to 0.9 | steps to 0.95 | s to 0.95 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for variant in args.variants:
        for seed in args.seeds:
            name = variant
            if os.path.exists(os.path.join(args.logdir, "ppo", args.task, f"{name}-{seed}")):
                name = f"{variant}-{time.strftime('%Y%m%d-%H%M%S')}"  # keep earlier runs
            train = ["train", "--task", args.task, "--max_env_steps", str(args.budget), "--seed_list", str(seed),
                     "--savedir", name, "--logdir", args.logdir, "--num_eval", "30", "--no_progress",
                     *VARIANTS[variant], *args.extra.split()]
            with contextlib.redirect_stdout(io.StringIO()):
                code = cli.main(train)
            if code != 0:
                sys.exit(f"training failed ({code}): {' '.join(train)}")
            run_dir = os.path.join(args.logdir, "ppo", args.task, f"{name}-{seed}")
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                cli.main(["eval", "--task", args.task, "--loaddir", run_dir, "--num_eval", "100"])
            success = float(re.search(r"success rate ([0-9.]+)", out.getvalue()).group(1))
            with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
                rows = list(csv.DictReader(f))
            s90, w90 = first_reaching(rows, 0.9)
            s95, w95 = first_reaching(rows, 0.95)
            last = rows[-1]
            fmt = lambda v, f: "-" if v is None else f.format(v)  # noqa: E731
            print(f"| {variant} | {seed} | {int(last['env_steps']):,} | {float(last['wall_time']):.0f} | {success:.2f} | "
                  f"{fmt(s90, '{:,}')} | {fmt(w90, '{:.0f}')} | {fmt(s95, '{:,}')} | {fmt(w95, '{:.0f}')} |", flush=True)


if __name__ == "__main__":
    main()
