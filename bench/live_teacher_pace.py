"""Does a live LLM teach at the student's pace? The wall time of the first env steps of a run taught by a local
LLM (python -m planner.local_llm's default server), from an empty plan cache, against the same run with a plan
cache that already holds every answer; with the non-blocking teacher (--llm_wait never, the default) and, for
comparison, with every env waiting for each answer (--llm_wait always).

    python bench/live_teacher_pace.py                                   # DoorKey-8x8, Gemma 3 270M, 200k env steps
    python bench/live_teacher_pace.py --task MiniGrid-UnlockPickup-v0 --steps 200000 --waits never

Runs, in this order, each in its own folder under --logdir: <wait>-empty (a fresh plan cache per wait mode), then
full (the cache the first run filled, so nothing is asked). Prints one row per run: wall seconds, texts asked,
the share of samples trained with the teacher term, the seconds the LLM was asked for (summed over its requests)
and the wall time over the full-cache run's.
"""
import argparse
import csv
import dataclasses
import os
import shutil
import sys

from algos.config import Config
from algos.train import train
from planner import local_llm
from utils.machine import machine_line


def taught_share(run_dir):
    with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("Teacher/Taught Share")]
    return sum(float(r["Teacher/Taught Share"]) for r in rows) / len(rows) if rows else None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="MiniGrid-DoorKey-8x8-v0")
    p.add_argument("--model", default="gemma3")
    p.add_argument("--steps", type=int, default=200_000)
    p.add_argument("--waits", nargs="+", default=["never", "always"], choices=["never", "always"])
    p.add_argument("--threads", type=int, default=None, help="the server's threads (default: local_llm's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--logdir", default="log/bench_live_pace")
    args = p.parse_args(argv)
    shutil.rmtree(args.logdir, ignore_errors=True)
    print(machine_line(), flush=True)
    rows = []
    with local_llm.running_server(model=args.model, n_threads=args.threads, startup_timeout=300) as url:
        base = Config(task=args.task, llm_url=url, llm_plans="logprobs", max_env_steps=args.steps, seed=args.seed,
                      seed_list=[args.seed], logdir=args.logdir, eval_interval=0, video=0)
        runs = [(f"{w}-empty", dataclasses.replace(base, llm_wait=w, savedir=f"{w}-empty",
                                                   plan_cache=os.path.join(args.logdir, f"cache-{w}.json")))
                for w in args.waits]
        runs.append(("full", dataclasses.replace(base, savedir="full", llm_wait=args.waits[0],
                                                 plan_cache=os.path.join(args.logdir, f"cache-{args.waits[0]}.json"))))
        for name, config in runs:
            result = train(config, show_progress=False)
            stats = result.planner_stats
            rows.append((name, result.wall_time, result.env_steps, stats.get("queries", 0),
                         taught_share(result.run_dir), stats.get("query_seconds", 0.0)))
            print(f"{name}: {result.wall_time:.0f} s for {result.env_steps} env steps, {stats.get('queries', 0)} "
                  f"texts asked", flush=True)
    full = rows[-1][1]
    print(f"\n{args.task}, {args.model}, {args.steps} env steps\n")
    print("| run | wall s | env steps | texts asked | taught share | LLM query s | wall / full-cache wall |")
    print("|---|---|---|---|---|---|---|")
    for name, wall, steps, asked, share, query_s in rows:
        shown = "-" if share is None else f"{share:.3f}"
        print(f"| {name} | {wall:.0f} | {steps} | {asked} | {shown} | {query_s:.0f} | {wall / full:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
