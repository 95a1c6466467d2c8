"""The teacher asked reduced texts against the per-text teacher asked every full text (issue 63), both taught by a
live LLM on the same held-out episodes: each alone (its success, the texts it was shown), and how closely they
agree on the observations of each other's episodes (the most likely action, the total variation distance between
their action distributions). The measuring is algos/experiments/teacher_agreement.py.

    python -m planner.local_llm --port 8765 &                      # Gemma 3 270M
    python bench/reduced_texts.py --llm_url http://127.0.0.1:8765/v1 --episodes 20
    python bench/reduced_texts.py --tasks MiniGrid-LockedRoom-v0 --episodes 100 --json /tmp/reduced.json

Every full text of the episodes is asked (blocking), so the per-text teacher costs as many LLM texts as the
episodes show; --plan_cache_dir keeps the answers (one cache per kind of text) for a rerun.
"""
import argparse
import os
from dataclasses import asdict

from algos.experiments.teacher_agreement import agreement, pooled
from algos.experiments.texts import MANY_TEXT_TASKS
from planner.task_spec import task_config
from teacher.config import TeacherConfig
from utils.bench import run_bench, write_bench_json
from utils.errors import UserError


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=list(MANY_TEXT_TASKS))
    p.add_argument("--llm_url", default="http://127.0.0.1:8765/v1")
    p.add_argument("--llm_plans", default="logprobs", choices=["logprobs", "sample"])
    p.add_argument("--episodes", type=int, default=20, help="held-out episodes per task (env seeds 2,000,000+)")
    p.add_argument("--plan_cache_dir", default="log/reduced_texts", help="where the two plan caches live")
    p.add_argument("--json", default="reduced_texts.json")
    args = p.parse_args(argv)
    if args.episodes < 1:
        raise UserError("--episodes must be >= 1")
    os.makedirs(args.plan_cache_dir, exist_ok=True)
    configs = {texts: TeacherConfig(llm_url=args.llm_url, llm_plans=args.llm_plans, teacher_texts=texts,
                                    plan_cache=os.path.join(args.plan_cache_dir, f"plan_cache_{texts}.json"))
               for texts in ("full", "reduced")}
    seeds = [2_000_000 + i for i in range(args.episodes)]
    rows = []
    print("| task | episodes | per-text teacher success | reduced-text teacher success | ratio | texts shown "
          "(per-text / reduced) | same most likely action | mean total variation |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.tasks:
        task = task_config(name)
        full = agreement(task, configs["full"], configs["reduced"], seeds)      # the per-text teacher acts
        reduced = agreement(task, configs["reduced"], configs["full"], seeds)   # the reduced-text teacher acts
        same, tv = pooled(full, reduced)
        ratio = reduced.successes / full.successes if full.successes else float("nan")
        rows.append({"task": task["name"], "per_text": asdict(full), "reduced": asdict(reduced),
                     "ratio": ratio, "same_action": same, "mean_tv": tv})
        print(f"| {task['name']} | {args.episodes} | {full.successes / args.episodes:.2f} | "
              f"{reduced.successes / args.episodes:.2f} | {ratio:.2f} | {full.texts_a} / {reduced.texts_a} | "
              f"{same:.2f} | {tv:.2f} |", flush=True)
    write_bench_json(args.json, "bench/reduced_texts.py", argv, {"rows": rows})
    return 0


if __name__ == "__main__":
    run_bench(main)
