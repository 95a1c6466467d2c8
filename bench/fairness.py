"""Two trainings side by side on one machine: does either starve? Runs `python main.py train` as real processes
(default settings, --max_env_steps of SimpleDoorKey each), first one alone, then two started together, and prints
their wall times and the ratio (goal on a 2-core machine: the pair within 1.6x of one run alone).

    python bench/fairness.py                    # 40k env steps per run
    python bench/fairness.py --steps 80000 --repeat 2
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start(logdir, name, steps):
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # as a user starts it: no thread setting
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "main.py"), "train", "--task", "SimpleDoorKey",
                             "--max_env_steps", str(steps), "--logdir", logdir, "--savedir", name, "--no_progress",
                             "--eval_interval", "0", "--video", "0"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def wait(procs):
    """Wall seconds until each process ends (all started at the same moment)."""
    t0, ends = time.perf_counter(), {}
    while len(ends) < len(procs):
        for i, p in enumerate(procs):
            if i not in ends and p.poll() is not None:
                ends[i] = time.perf_counter() - t0
                if p.returncode != 0:
                    sys.exit(f"training failed: {p.stderr.read()}")
        time.sleep(0.05)
    return [ends[i] for i in range(len(procs))]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=40_000, help="env steps per run")
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args(argv)
    print(f"{os.cpu_count()} cores; SimpleDoorKey, {args.steps:,} env steps per run, default settings")
    print("| repeat | one run alone (s) | two together: each (s) | pair / alone |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeat):
            alone = wait([start(tmp, f"alone{k}", args.steps)])[0]
            pair = wait([start(tmp, f"a{k}", args.steps), start(tmp, f"b{k}", args.steps)])
            print(f"| {k + 1} | {alone:.1f} | {pair[0]:.1f}, {pair[1]:.1f} | {max(pair) / alone:.2f} |", flush=True)


if __name__ == "__main__":
    main()
