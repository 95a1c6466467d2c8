import csv
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMING_COLUMNS = {"wall_time", "charts/SPS", "charts/collect_SPS", "charts/update_seconds"}


def tiny_train_args(logdir, savedir="t", n_itr=2, extra=()):
    """A training run of a few seconds: 2 envs in-process, small iterations, eval and save every iteration."""
    return ["train", "--task", "SimpleDoorKey", "--n_itr", str(n_itr), "--num_envs", "2", "--workers", "0",
            "--traj_per_itr", "2", "--batch_size", "32", "--eval_interval", "1", "--num_eval", "2",
            "--save_interval", "1", "--logdir", str(logdir), "--savedir", savedir, "--no_progress", *extra]


def read_metrics(run_dir, drop_timing=True):
    with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    if drop_timing:
        rows = [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows]
    return rows


def run_main(args, timeout=300, **kw):
    return subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, **kw)
