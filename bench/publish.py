"""Publish trained students: models/<Task>.pt from a run's checkpoint (weights in fp16 and the run's config).

    python bench/publish.py log/paper/ppo/ColoredDoorKey/llm4teach-0 [--loadmodel latest] [--out models]
    python bench/publish.py RUN --suffix=-gemma3-270m    # models/<Task>-gemma3-270m.pt: a student of another teacher
    python main.py eval --task ColoredDoorKey --loaddir models/ColoredDoorKey.pt --num_eval 100 --env_seed_list 2000000
"""
import argparse
import json
import os
import sys

from algos.run.checkpoint import export_student
from utils.errors import UserError


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--loadmodel", default="latest")
    p.add_argument("--out", default="models")
    p.add_argument("--suffix", default="", help="added to the file name: models/<Task><suffix>.pt")
    args = p.parse_args(argv)
    try:
        for run in args.run_dirs:
            with open(os.path.join(run, "config.json")) as f:
                task = json.load(f)["task"]
            out = export_student(os.path.join(run, "checkpoints", f"{args.loadmodel}.pt"),
                                 os.path.join(args.out, f"{task}{args.suffix}.pt"))
            print(f"{out}: {os.path.getsize(out) / 2**20:.1f} MiB from {run}")
    except (UserError, OSError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
