import argparse
import csv
import os
import subprocess
import sys

from utils.errors import UserError

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


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UserError(message)


def planner_config(*argv, cls=None):
    """The PlannerConfig (or another config class) of a command line, parsed and checked as main.py does."""
    from planner.config import PlannerConfig
    from utils.options import add_arguments, from_namespace
    cls = cls or PlannerConfig
    return from_namespace(add_arguments(_Parser(), cls, "train").parse_args([str(a) for a in argv]), cls, "train")[0]


def run_processes(target, args_list, timeout=120):
    """target(*args, queue) in one spawned process per args; their results (one queue.put each), in finishing
    order; every process must exit 0."""
    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, queue)) for args in args_list]
    for p in procs:
        p.start()
    results = [queue.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return results
