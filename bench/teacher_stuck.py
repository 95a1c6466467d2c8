"""Where the teacher alone gets stuck (algos/experiments/stuck.py): for each failed episode, the observation text it spent most
of its last steps on, what the planner answers for that text, and what the teacher did there.

    python bench/teacher_stuck.py --tasks MiniGrid-UnlockPickup-v0 --episodes 20
    python bench/teacher_stuck.py --tasks KeyInBox --answers gemma3-270m --window 20
    python bench/teacher_stuck.py --tasks MiniGrid-KeyCorridorS3R1-v0 --llm_url http://127.0.0.1:8000/v1 --llm_plans logprobs

With --llm_url a live LLM answers (no plan cache is kept: the plans printed are what it answered now).
"""
import argparse

from algos.experiments.stuck import markdown, teacher_stuck
from planner.factory import preflight
from teacher.config import TeacherConfig
from utils.bench import run_bench
from utils.errors import UserError
from planner.task_spec import task_names


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=task_names())
    p.add_argument("--episodes", type=int, default=20, help="teacher episodes per task (env seeds --env_seed on)")
    p.add_argument("--env_seed", type=int, default=2_000_000)
    p.add_argument("--window", type=int, default=40, help="last steps of a failed episode to look at")
    p.add_argument("--answers", default="default", help="recorded answers to teach with (as train's --answers)")
    p.add_argument("--llm_url", help="a live LLM's OpenAI-compatible server instead (as train's --llm_url)")
    p.add_argument("--llm_plans", default="sample", choices=("sample", "logprobs"), help="as train's --llm_plans")
    args = p.parse_args(argv)
    if args.episodes < 1 or args.window < 1:
        raise UserError("--episodes and --window must be >= 1")
    config = TeacherConfig(answers=args.answers, llm_url=args.llm_url, llm_plans=args.llm_plans, plan_cache="none")
    config.validate()
    preflight(config)
    for name in args.tasks:
        print(markdown(teacher_stuck(name, args.episodes, args.env_seed, args.window, config)) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    run_bench(main)
