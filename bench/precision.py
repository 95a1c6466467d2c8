"""Learning parity of `--precision bf16` against fp32: the same LLM4Teach runs (same task, seeds and budget) in both
precisions, as one `main.py sweep`; prints its results table (held-out success of each final student, env steps to
0.9).

    python bench/precision.py                                   # SimpleDoorKey, 200k env steps, seeds 0-3
    python bench/precision.py --tasks LavaDoorKey --max_env_steps 2500000 --seeds 0 --anneal_lr --num_envs 10 \
        --n_itr 4000 --num_eval 20                              # the paper's LavaDoorKey protocol

Any `main.py sweep` flag applies (the defaults above otherwise). Variants: `llm4teach` (fp32, the defaults) and
`llm4teach_bf16` (`--precision bf16`); runs land in <logdir>/ppo/<Task>/<variant>-<seed>/ and a rerun resumes them.
For the speed-up alone: `python bench/throughput.py --tasks TwoDoor --num_envs 10 --precision fp32 bf16`.
"""
import argparse
import json
import os
import sys

import main as cli
from utils.atomic import atomic_write
from utils.errors import UserError

DEFAULTS = {"--tasks": ["SimpleDoorKey"], "--seeds": ["0", "1", "2", "3"], "--max_env_steps": ["200000"],
            "--logdir": ["log/bench_precision"]}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                add_help=False)
    p.add_argument("--logdir", default=DEFAULTS["--logdir"][0])
    p.add_argument("-h", "--help", action="store_true")
    ns, _ = p.parse_known_args(argv)
    if ns.help:
        print(__doc__)
        return 0
    variants_file = os.path.join(ns.logdir, "precision_variants.json")
    given = {a.split("=")[0] for a in argv if a.startswith("--")}
    args = ["sweep", *argv, "--variants", "llm4teach", "llm4teach_bf16", "--variants_file", variants_file]
    for flag, value in DEFAULTS.items():
        if flag not in given:
            args += [flag, *value]
    try:
        atomic_write(variants_file, json.dumps({"llm4teach_bf16": {"precision": "bf16"}}), "variants file")
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    status = cli.main(args)
    if status == 0:
        with open(os.path.join(ns.logdir, "results.md")) as f:
            print(f.read())
    return status


if __name__ == "__main__":
    sys.exit(main())
