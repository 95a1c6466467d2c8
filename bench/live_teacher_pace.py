"""Does a live LLM teach at the student's pace? The wall time of the first env steps of a run taught by a local
LLM (python -m planner.local_llm's default server), from an empty plan cache, against the same run with a plan
cache that already holds every answer; with the non-blocking teacher (--llm_wait never, the default) and, for
comparison, with every env waiting for each answer (--llm_wait always).

    python bench/live_teacher_pace.py                                   # DoorKey-8x8, Gemma 3 270M, 200k env steps
    python bench/live_teacher_pace.py --task MiniGrid-UnlockPickup-v0 --rollout_steps 128
    python bench/live_teacher_pace.py --steps 1000000 --waits never --held_out 100 --seed 1 \\
        --llm_url http://127.0.0.1:8000/v1                              # the students after a full budget
    python bench/live_teacher_pace.py --stack fastchat --task SimpleDoorKey --steps 20000   # the paper's stack

Runs, in this order, each in its own folder under --logdir/seed<seed>: <wait>-empty (a fresh plan cache per wait
mode), then full (the cache the first run filled, so nothing is asked: the same answers the blocking teacher
trains on, without the waiting). Any `main.py train` option after the bench's own is passed to every run. Prints
one row per run: wall seconds, texts asked, the share of samples trained with the teacher term, the seconds the
LLM was asked for (summed over its requests), the wall time over the full-cache run's and, with --held_out N, the
final student's success on N held-out episodes (env seeds 2,000,000+, as in a sweep). With --llm_url the runs use
that server (started by the caller, e.g. shared by two benches) instead of starting their own. --stack fastchat
serves SmolLM2 under FastChat (python -m planner.servers.fastchat) and trains with the flags that command prints
(sampled answers, --n_ask 10, one answer per request) in place of llama-server with --llm_plans logprobs.
"""
import argparse
import csv
import dataclasses
import os
import shutil
import sys

from algos.config import Config
from algos.experiments.final_eval import evaluate_final
from algos.experiments.sweep import SweepOptions
from algos.run.train import train
from planner.servers import fastchat as fastchat_local
from planner.servers import llama as local_llm
from utils.errors import UserError
from utils.machine import machine_line
from utils.options import add_arguments, from_namespace


def taught_share(run_dir):
    with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("Teacher/Taught Share")]
    return sum(float(r["Teacher/Taught Share"]) for r in rows) / len(rows) if rows else None


def _train_options(extra):
    """The `main.py train` options written after the bench's own -> {name: value}."""
    p = argparse.ArgumentParser(prog="bench/live_teacher_pace.py (train options)")
    add_arguments(p, Config, "train")
    return from_namespace(p.parse_args(extra), Config, "train")[1]


def run_all(args, url, given):
    logdir = os.path.join(args.logdir, f"seed{args.seed}")
    shutil.rmtree(logdir, ignore_errors=True)
    stack = (_train_options(fastchat_local.TRAIN_FLAGS.split()) if args.stack == "fastchat"
             else dict(llm_plans="logprobs"))
    base = dataclasses.replace(Config(), **{**dict(eval_interval=0, video=0), **stack, **given})
    base = dataclasses.replace(base, task=args.task, llm_url=url, max_env_steps=args.steps,  # the bench's own win
                               seed=args.seed, seed_list=[args.seed], logdir=logdir)
    runs = [(f"{w}-empty", dataclasses.replace(base, llm_wait=w, savedir=f"{w}-empty",
                                               plan_cache=os.path.join(logdir, f"cache-{w}.json")))
            for w in args.waits]
    runs.append(("full", dataclasses.replace(base, savedir="full", llm_wait=args.waits[0],
                                             plan_cache=os.path.join(logdir, f"cache-{args.waits[0]}.json"))))
    rows = []
    for name, config in runs:
        result = train(config, show_progress=False)
        stats = result.planner_stats
        held_out = None
        if args.held_out and not result.stopped_by:
            held_out = evaluate_final(result.config, SweepOptions(final_eval=args.held_out),
                                      result.iterations)["success"]
        rows.append((name, result.wall_time, result.env_steps, stats.get("queries", 0), taught_share(result.run_dir),
                     stats.get("query_seconds", 0.0), held_out))
        print(f"{name}: {result.wall_time:.0f} s for {result.env_steps} env steps, {stats.get('queries', 0)} "
              f"texts asked" + ("" if held_out is None else f", held-out success {held_out:.2f}"), flush=True)
        if result.stopped_by:  # Ctrl-C (or SIGTERM) stops the bench, not just this run
            print(f"{name} was stopped ({result.stopped_by}): the runs after it are not started", flush=True)
            break
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="MiniGrid-DoorKey-8x8-v0")
    p.add_argument("--stack", default="local_llm", choices=["local_llm", "fastchat"],
                   help="the server: python -m planner.local_llm's llama-server, or FastChat's three servers")
    p.add_argument("--model", default="gemma3", help="local_llm's model (FastChat serves SmolLM2)")
    p.add_argument("--steps", type=int, default=200_000)
    p.add_argument("--waits", nargs="+", default=["never", "always"], choices=["never", "always"])
    p.add_argument("--threads", type=int, default=None, help="the server's threads (default: local_llm's)")
    p.add_argument("--llm_url", default=None, help="a running server to use (default: start one)")
    p.add_argument("--held_out", type=int, default=0, help="evaluate each final student on N held-out episodes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--logdir", default="log/bench_live_pace")
    args, extra = p.parse_known_args(argv)
    given = _train_options(extra)
    print(machine_line(), flush=True)
    try:
        if args.llm_url:
            rows = run_all(args, args.llm_url, given)
        else:
            server = (fastchat_local.running(startup_timeout=600) if args.stack == "fastchat" else
                      local_llm.running_server(model=args.model, n_threads=args.threads, startup_timeout=300))
            with server as url:
                rows = run_all(args, url, given)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    model = fastchat_local.MODEL_NAME if args.stack == "fastchat" else args.model
    full = next((wall for name, wall, *_ in rows if name == "full"), None)  # None: the bench was stopped before it
    print(f"\n{args.task}, {model} ({args.stack}), {args.steps} env steps, seed {args.seed}"
          + (f", {' '.join(extra)}" if extra else "") + "\n")
    print("| run | wall s | env steps | texts asked | taught share | LLM query s | wall / full-cache wall | held-out |")
    print("|---|---|---|---|---|---|---|---|")
    for name, wall, steps, asked, share, query_s, held_out in rows:
        shown = "-" if share is None else f"{share:.3f}"
        held = "-" if held_out is None else f"{held_out:.2f}"
        ratio = "-" if not full else f"{wall / full:.2f}"
        print(f"| {name} | {wall:.0f} | {steps} | {asked} | {shown} | {query_s:.0f} | {ratio} | {held} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
