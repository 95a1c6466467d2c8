"""The answer model of --llm_generalise (issue 63: a small model of the LLM's answers, the LLM asked where it is
unsure), measured two ways.

Replayed on plan caches (no server): the texts in the order the LLM was asked them, a text guessed with confidence
>= C not asked (algos/experiments/answer_replay.py):
    python bench/answer_model.py --replay log/reduced_texts/plan_cache_full.json --thresholds 0.6 0.8 0.9 1.0

Live, the teacher alone on held-out episodes (env seeds 2,000,000+), full texts: the per-text teacher (every text
asked; its answers from --per_text_cache where they are there) against the generalising one (a fresh plan cache:
what it asks is what it costs), each driving its own episodes, and how closely they agree on each other's
(algos/experiments/teacher_agreement.py):
    python -m planner.local_llm --port 8765 &
    python bench/answer_model.py --tasks MiniGrid-LockedRoom-v0 --episodes 20 --thresholds 0.8
"""
import argparse
import os
from dataclasses import asdict

from algos.experiments.answer_replay import cache_answers, replay
from algos.experiments.teacher_agreement import agreement, pooled
from planner.live.plan_cache import PlanCache
from planner.task_spec import task_config
from teacher.config import TeacherConfig
from utils.bench import run_bench, write_bench_json
from utils.errors import UserError


def replays(paths, thresholds):
    rows = []
    print("| plan cache | C | texts | asked | guessed | same most likely plan | mean total variation |")
    print("|---|---|---|---|---|---|---|")
    for path in paths:
        if not os.path.isfile(path):
            raise UserError(f"no plan cache at {path}")
        answers = cache_answers(PlanCache(path).entries(), path)
        for c in thresholds:
            r = replay(answers, c)
            rows.append({"cache": path, **asdict(r)})
            print(f"| {os.path.basename(path)} | {c:g} | {r.texts} | {r.asked} | {r.guessed} | {r.same_plan:.2f} | "
                  f"{r.mean_tv:.2f} |", flush=True)
    return rows


def live(args):
    os.makedirs(args.plan_cache_dir, exist_ok=True)
    per_text = TeacherConfig(llm_url=args.llm_url, llm_plans=args.llm_plans, teacher_texts="full",
                             plan_cache=args.per_text_cache)
    seeds = [2_000_000 + i for i in range(args.episodes)]
    rows = []
    print("| task | C | per-text teacher: success, texts | generalising teacher: success, texts shown, asked, "
          "guessed | same most likely action | mean total variation |")
    print("|---|---|---|---|---|---|")
    for name in args.tasks:
        task = task_config(name)
        for c in args.thresholds:
            cache = os.path.join(args.plan_cache_dir, f"plan_cache_{task['name']}_{c:g}.json")
            for stale in (cache, cache + ".lock"):
                if os.path.exists(stale):  # what it asks from empty is what it costs
                    os.remove(stale)
            mine = TeacherConfig(llm_url=args.llm_url, llm_plans=args.llm_plans, teacher_texts="full",
                                 plan_cache=cache, llm_generalise=c)
            own = agreement(task, mine, per_text, seeds)     # the generalising teacher acts (and asks first)
            ref = agreement(task, per_text, mine, seeds)     # the per-text teacher acts
            same, tv = pooled(own, ref)
            asked = own.stats_a.get("texts", 0) - own.stats_a.get("cache_hits", 0)
            rows.append({"task": task["name"], "threshold": c, "generalising": asdict(own), "per_text": asdict(ref),
                         "asked_own_episodes": asked, "same_action": same, "mean_tv": tv})
            print(f"| {task['name']} | {c:g} | {ref.successes / args.episodes:.2f}, {ref.texts_a} | "
                  f"{own.successes / args.episodes:.2f}, {own.texts_a}, {asked}, "
                  f"{own.stats_a.get('guessed_texts', 0)} | {same:.2f} | {tv:.2f} |", flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--replay", nargs="+", metavar="CACHE", help="replay these plan caches (no server)")
    p.add_argument("--thresholds", nargs="+", type=float, default=[0.8])
    p.add_argument("--tasks", nargs="+", default=["MiniGrid-LockedRoom-v0"])
    p.add_argument("--llm_url", default="http://127.0.0.1:8765/v1")
    p.add_argument("--llm_plans", default="logprobs", choices=["logprobs", "sample"])
    p.add_argument("--episodes", type=int, default=20, help="held-out episodes per task (env seeds 2,000,000+)")
    p.add_argument("--per_text_cache", default="log/reduced_texts/plan_cache_full.json")
    p.add_argument("--plan_cache_dir", default="log/answer_model", help="the generalising teachers' fresh caches")
    p.add_argument("--json", default="answer_model.json")
    args = p.parse_args(argv)
    if args.episodes < 1 or not all(0 < c <= 1 for c in args.thresholds):
        raise UserError("--episodes must be >= 1 and every threshold in (0, 1]")
    rows = replays(args.replay, args.thresholds) if args.replay else live(args)
    write_bench_json(args.json, "bench/answer_model.py", argv, {"rows": rows})
    return 0


if __name__ == "__main__":
    run_bench(main)
