"""How many distinct observation texts each task shows its teacher, and how its visits spread over them (issue 63;
the measuring is algos/experiments/texts.py): under a uniformly random walk, optionally under a short training
(--train_steps), and, for runs taught by a live LLM, the texts asked and the taught share over env steps from
their metrics.csv (--runs).

    python bench/texts.py                                        # the paper's four tasks and four many-text tasks
    python bench/texts.py --tasks MiniGrid-LockedRoom-v0 --steps 100000 --train_steps 20000
    python bench/texts.py --tasks SimpleDoorKey --train_steps 20000 --train_answers official
    python bench/texts.py --texts full reduced                   # the texts a live LLM is asked (reduced) beside
    python bench/texts.py --tasks --runs log/ppo/MiniGrid-LockedRoom-v0/llm-0   # only a live-LLM run's record

A text is exactly what the planner is asked (the teacher's mediator text). The tables go to stdout, the numbers to
--json (default texts.json); --md also writes the tables with the command and the machine.
"""
import argparse
import json
import shlex
import sys

from algos.experiments.texts import DEFAULT_TASKS, SHARES, as_json, live_llm_progress, random_walk, training_texts
from planner.task_spec import task_config
from utils.atomic import atomic_write
from utils.bench import run_bench
from utils.errors import UserError
from utils.machine import machine_line


def _pct(x):
    return f"{100 * x:.0f} %"


def markdown(results):
    """TextCounts as one markdown table (a row each)."""
    lines = ["| task | source | env steps | episodes | distinct texts | top 10 | top 100 | top 1000 | "
             "texts for 50 / 80 / 95 % | seen once | distinct at 10k / 20k / 50k steps |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        growth = dict(r.growth)
        at = " / ".join(str(growth[s]) if s in growth else "-" for s in (10_000, 20_000, 50_000))
        needed = " / ".join(str(r.needed[s]) for s in SHARES)
        lines.append(f"| {r.task} | {r.source} | {r.env_steps:,} | {r.episodes:,} | {r.distinct:,} | "
                     f"{_pct(r.coverage[10])} | {_pct(r.coverage[100])} | {_pct(r.coverage[1000])} | {needed} | "
                     f"{r.once:,} | {at} |")
    return "\n".join(lines)


def live_markdown(run_dir, rows):
    def show(v, fmt="{:,}"):
        return "-" if v is None else fmt.format(v)
    lines = [f"{run_dir}: a live LLM teacher's texts over env steps", "",
             "| env steps | texts asked | answered | waiting | asked the LLM | taught share |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.env_steps:,} | {show(r.asked)} | {show(r.answered)} | {show(r.waiting)} | "
                     f"{show(r.llm_queries)} | {show(r.taught_share, '{:.2f}')} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="*", default=list(DEFAULT_TASKS), help="task names or MiniGrid ids")
    p.add_argument("--steps", type=int, default=50_000, help="random-walk env steps per task (0: no random walk)")
    p.add_argument("--envs", type=int, default=4, help="random-walk envs stepped together")
    p.add_argument("--train_steps", type=int, default=0, help="also count under a training of this many env steps")
    p.add_argument("--train_envs", type=int, default=16, help="the training's --num_envs")
    p.add_argument("--train_answers", help="teach the training with this recorded table (as train's --answers); "
                                           "default: a teacher with no answers yet (the student learns as plain PPO)")
    p.add_argument("--texts", nargs="+", default=["full"], choices=["full", "reduced"],
                   help="the teacher's texts to count (as train's --teacher_texts; both: one row each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top", type=int, default=10, help="most frequent random-walk texts kept in the JSON")
    p.add_argument("--runs", nargs="*", default=[], help="run folders of live-LLM runs: their texts asked and taught "
                                                          "share over env steps, from metrics.csv")
    p.add_argument("--json", default="texts.json", help="where the numbers go")
    p.add_argument("--md", help="also write the tables, the command and the machine to this markdown file")
    args = p.parse_args(argv)
    if args.steps < 0 or args.train_steps < 0 or args.envs < 1 or args.train_envs < 1:
        raise UserError("--steps and --train_steps must be >= 0, --envs and --train_envs >= 1")
    walks, trainings, live = [], [], []
    for name in args.tasks:
        for texts in args.texts:
            if texts == "reduced" and "reduced" not in task_config(name):
                print(f"{name}: no reduced texts (a live LLM is asked its full ones)", file=sys.stderr, flush=True)
                continue
            if args.steps:
                walks.append(random_walk(name, args.steps, args.envs, args.seed, args.top, texts=texts))
                print(f"{name}: {walks[-1].source}, {walks[-1].distinct} texts in {walks[-1].env_steps} steps "
                      f"({walks[-1].seconds:.0f} s)", file=sys.stderr, flush=True)
            if args.train_steps:
                trainings.append(training_texts(name, args.train_steps, args.train_answers, args.train_envs,
                                                args.seed, teacher_texts=texts))
                print(f"{name}: {trainings[-1].source}, {trainings[-1].distinct} texts in {trainings[-1].env_steps} "
                      f"steps ({trainings[-1].seconds:.0f} s)", file=sys.stderr, flush=True)
    tables = []
    if walks or trainings:
        tables.append(markdown(walks + trainings))
    for run_dir in args.runs:
        rows = live_llm_progress(run_dir)
        live.append({"run": run_dir, "rows": [as_json(r) for r in rows]})
        tables.append(live_markdown(run_dir, rows))
    text = "\n\n".join(tables)
    print(text)
    data = {"command": "python bench/texts.py " + shlex.join(sys.argv[1:] if argv is None else argv),
            "machine": machine_line(), "random_walk": [as_json(r) for r in walks],
            "training": [as_json(r) for r in trainings], "live_llm": live}
    atomic_write(args.json, json.dumps(data, indent=1) + "\n")
    if args.md:
        atomic_write(args.md, f"`{data['command']}`\n\nMachine: {data['machine']}\n\n{text}\n")
    return 0


if __name__ == "__main__":
    run_bench(main)
