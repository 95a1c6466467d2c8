"""Ask a live LLM every text a MiniWorld task's teacher can show, so that its recorded-answer table covers them all
(a MiniWorld room's texts are few: subsets of the objects its naming names, times what is held):

    python -m planner.local_llm --port 8765 &
    python bench/miniworld_answers.py --task MiniWorld-PutNext-v0 --llm_url http://127.0.0.1:8765/v1 \
        --plan_cache log/mw_cache.json
    python -m planner.export_cache log/mw_cache.json --task MiniWorld-PutNext-v0 --out gemma3-270m

The answers land in the plan cache like any run's (same prompt, planner and settings), and export_cache turns them
into the table the default run reads.
"""
import argparse
import itertools
import os
import sys

from env import miniworld as mw
from planner.config import PlannerConfig
from planner.factory import build_planner
from planner.task_spec import naming_rule, task_config


def names(task):
    """Every object name the task's teacher can say (its "named" objects, or every kind, with colours or not)."""
    if task.get("named"):
        return list(task["named"])
    kinds = naming_rule(task["object_names"])["kinds"]
    if naming_rule(task["object_names"])["colours"] == "none":
        return list(kinds)
    return [f"{c} {k}" for k in kinds for c in mw.colours()]


def texts(task, max_seen=3):
    """The texts: every set of up to max_seen objects seen (in the teacher's order), holding nothing or one of
    them (or, where only some are named, an unnamed one: its kind)."""
    objects = names(task)
    held = ["nothing"] + objects + sorted({o.split()[-1] for o in objects} - set(objects))
    out = []
    for n in range(0, min(max_seen, len(objects)) + 1):
        for seen in itertools.combinations(objects, n):
            for h in held:
                shown = [o for o in seen if o != h]
                out.append(f"Agent sees {', '.join(f'<{o}>' for o in shown) or '<nothing>'}, holds <{h}>.")
    return list(dict.fromkeys(out))


def run(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", required=True)
    p.add_argument("--llm_url", required=True)
    p.add_argument("--plan_cache", required=True)
    p.add_argument("--max_seen", type=int, default=3)
    args = p.parse_args(argv)
    task = task_config(args.task)
    config = PlannerConfig(llm_url=args.llm_url, llm_plans="logprobs", plan_cache=args.plan_cache)
    planner = build_planner(config, task, os.path.dirname(os.path.abspath(args.plan_cache)))
    asked = texts(task, args.max_seen)
    for text in asked:
        best = max(planner.plans(text), key=lambda pq: pq[1])
        print(f"{text} -> {best[0]} ({best[1]:.2f})")
    print(f"{len(asked)} texts asked of {args.llm_url}; plan cache {args.plan_cache}")
    planner.close()
    return 0


if __name__ == "__main__":
    sys.exit(run())
