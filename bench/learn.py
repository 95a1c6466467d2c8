"""Learning benchmark: LLM4Teach vs plain PPO on one task for a fixed env-step budget, as a sweep.

    python bench/learn.py                                  # SimpleDoorKey, 200k env steps, seeds 0 and 1
    python bench/learn.py --budget 150000 --seeds 0 --variants llm4teach

The same as `python main.py sweep --tasks T --variants llm4teach ppo --max_env_steps B --num_eval 30 --logdir
log/bench`: default settings otherwise, evaluation on 30 episodes every 10 iterations, then each final student on
100 held-out episodes; prints the results table (log/bench/results.md) of algos.experiments.results.
"""
import argparse
import sys

from algos.config import Config
from algos.experiments.sweep import SweepOptions, sweep
from utils.errors import UserError


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="SimpleDoorKey")
    p.add_argument("--budget", type=int, default=200_000, help="env steps per run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--variants", nargs="+", default=["llm4teach", "ppo"])
    p.add_argument("--logdir", default="log/bench")
    args = p.parse_args(argv)
    config = Config(max_env_steps=args.budget, num_eval=30, logdir=args.logdir)
    options = SweepOptions(tasks=[args.task], seeds=args.seeds, variants=args.variants)
    try:
        result = sweep(config, options, given={"max_env_steps": args.budget, "num_eval": 30})
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(open(result.markdown).read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
