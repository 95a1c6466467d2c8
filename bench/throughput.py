"""Throughput of collection (teacher on) and of whole PPO iterations (collection + update), in env steps/s.

    python bench/throughput.py                      # SimpleDoorKey and TwoDoor, --num_envs 1 and the default
    python bench/throughput.py --tasks TwoDoor --num_envs 1 16 32 --iterations 5

Collection follows the training loop exactly (fresh episodes each iteration, the student's sampled actions, the
teacher's distribution per step); the student is untrained, so episodes mostly run to the 150-step limit.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def measure(task, num_envs, workers, iterations, seed=0):
    import torch
    from algos.model import ActorCritic
    from algos.ppo import PPO
    from algos.rollout import Rollout, collect
    from algos.vec_env import ParallelEnvs, TeacherSpec
    from utils.tasks import task_config

    from main import torch_threads
    cfg = task_config(task)
    torch.set_num_threads(torch_threads(workers))
    torch.manual_seed(seed)
    envs = ParallelEnvs(cfg["env_id"], num_envs, seed, TeacherSpec(cfg), workers=workers)
    try:
        model = ActorCritic(envs.obs_shape)
        ppo = PPO(model)
        storage = Rollout(num_envs, envs.obs_shape)
        collect(model, envs, storage, "cpu", 10, 256, 0.99, 1.0)  # warm-up (worker start, allocations)
        steps = t_collect = t_update = 0.0
        for _ in range(iterations):
            t0 = time.perf_counter()
            batch, _ = collect(model, envs, storage, "cpu", 10, 256, 0.99, 1.0)
            t1 = time.perf_counter()
            ppo.update(batch, coef=10.0)
            t2 = time.perf_counter()
            steps += batch["action"].numel()
            t_collect += t1 - t0
            t_update += t2 - t1
        return steps / t_collect, steps / (t_collect + t_update), int(steps)
    finally:
        envs.close()


def main():
    from main import resolve_workers
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=["SimpleDoorKey", "TwoDoor"])
    p.add_argument("--num_envs", type=int, nargs="+", default=[1, 16], help="16 is main.py's default")
    p.add_argument("--iterations", type=int, default=4)
    p.add_argument("--workers", type=int, default=-1, help="-1: as main.py train chooses for this machine")
    args = p.parse_args()
    import torch
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {cores} cores, torch {torch.__version__}; torch threads as in training (main.torch_threads)")
    print("| task | --num_envs | workers | collection env steps/s (teacher on) | end-to-end env steps/s | steps measured |")
    print("|---|---|---|---|---|---|")
    for task in args.tasks:
        for n in args.num_envs:
            workers = resolve_workers(args.workers, n)
            collect_sps, e2e_sps, steps = measure(task, n, workers, args.iterations)
            print(f"| {task} | {n} | {workers} | {collect_sps:,.0f} | {e2e_sps:,.0f} | {steps:,} |", flush=True)


if __name__ == "__main__":
    main()
