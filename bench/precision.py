"""Learning parity of `--precision bf16` against fp32: the same LLM4Teach runs (same task, seeds and budget) in both
precisions, as one sweep; prints the results table (held-out success of each final student, env steps to 0.9).

    python bench/precision.py                                   # SimpleDoorKey, 200k env steps, seeds 0-3
    python bench/precision.py --task LavaDoorKey --budget 1560000 --seeds 0 --anneal_lr --num_envs 10 \
        --n_itr 4000 --num_eval 20                              # the paper's LavaDoorKey protocol

Every train flag applies to every run.
Variants: `llm4teach` (fp32, the defaults) and `llm4teach_bf16` (`--precision bf16`); runs land in
<logdir>/ppo/<Task>/<variant>-<seed>/ and a rerun resumes them. For the speed-up alone:
`python bench/throughput.py --tasks TwoDoor --num_envs 10 --precision fp32 bf16`.
"""
import argparse
import dataclasses
import json
import os
import sys

from algos.config import Config
from algos.sweep import SweepOptions, sweep
from utils.atomic import atomic_write
from utils.errors import UserError
from utils.options import add_arguments, from_namespace


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=int, default=200_000, help="env steps per run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    p.add_argument("--num_cpus", type=int, default=0, help="runs at a time (0: one per core), as main.py sweep's")
    add_arguments(p, Config, "train")
    ns = p.parse_args(argv)
    try:
        config, given = from_namespace(ns, Config, "train")
        given = dict(given, max_env_steps=ns.budget, logdir=given.get("logdir", "log/bench_precision"))
        config = dataclasses.replace(config, **given)
        os.makedirs(config.logdir, exist_ok=True)
        variants_file = os.path.join(config.logdir, "precision_variants.json")
        atomic_write(variants_file, json.dumps({"llm4teach_bf16": {"precision": "bf16"}}), "variants file")
        options = SweepOptions(tasks=[config.task], seeds=ns.seeds, variants=["llm4teach", "llm4teach_bf16"],
                               variants_file=variants_file, num_cpus=ns.num_cpus)
        result = sweep(config, options, given=given)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(open(result.markdown).read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
