"""Throughput of collection (teacher on) and of whole PPO iterations (collection + update), in env steps/s.

    python bench/throughput.py                      # SimpleDoorKey and TwoDoor, --num_envs 1 and the default
    python bench/throughput.py --tasks TwoDoor --num_envs 1 16 32 --iterations 5
    python bench/throughput.py --tasks TwoDoor --num_envs 10 --precision fp32 bf16   # --precision's speed-up
    python bench/throughput.py --tasks MiniGrid-DoorKey-16x16-v0 --num_envs 16 --view official egocentric
    python bench/throughput.py --optimizer          # one Adam step: torch's per-tensor loop against the fused kernel
    python bench/throughput.py --tasks MiniWorld-PutNext-v0 --num_envs 16 --split   # where a 3D step's time goes

Collection follows the training loop exactly (fresh episodes each iteration, the student's sampled actions, the
teacher's distribution per step); the student is untrained, so episodes mostly run to the 150-step limit. Torch
threads are what a run alone on this machine uses (utils.cpu_share).
"""
import argparse
import time

import torch

from algos.run.checkpoint import build_task_model
from algos.config import Config
from algos.vec_env.env_group import observation_shape
from algos.vec_env.env_pool import EnvPool
from algos.learner.ppo import PPO
from algos.learner.rollout import Rollout, collect
from utils.cpu_share import resolve_workers
from teacher.policy import TeacherSpec
from utils.cpu_share import CpuShare, cpu_cores
from planner.task_spec import task_config


def measure(task, num_envs, workers, iterations, seed=0, precision="fp32", view="official"):
    """(collection env steps/s, end-to-end env steps/s, steps measured) of `iterations` PPO iterations; view
    "egocentric": the grid student of training's --egocentric."""
    config = Config(task=task, num_envs=num_envs, workers=workers, precision=precision,
                    egocentric=view == "egocentric")
    cfg = task_config(task)
    torch.manual_seed(seed)
    pool = EnvPool(cfg["env_id"], [seed * 100_003 + i for i in range(num_envs)], [[seed, i] for i in range(num_envs)],
                   TeacherSpec(cfg), workers=workers)
    try:
        with CpuShare(reserved=workers) as share:
            torch.set_num_threads(share.threads())
            model = build_task_model(config, cfg["env_id"], pool.obs_shape, "cpu")
            ppo = PPO(model, config)
            storage = Rollout(num_envs, pool.obs_shape, n_actions=pool.n_actions)
            collect(model, pool, storage, "cpu", config)  # warm-up (worker start, allocations)
            steps = t_collect = t_update = 0.0
            for _ in range(iterations):
                t0 = time.perf_counter()
                batch, _ = collect(model, pool, storage, "cpu", config)
                t1 = time.perf_counter()
                ppo.update(batch, coef=10.0)
                t2 = time.perf_counter()
                steps += batch["action"].numel()
                t_collect += t1 - t0
                t_update += t2 - t1
        return steps / t_collect, steps / (t_collect + t_update), int(steps)
    finally:
        pool.close()


def split_ms(task, steps=2000, seed=0):
    """(ms per env step, ms per teacher step) of one env and its teacher (the recorded answers) over `steps` steps
    of random actions: the simulator with its rendering, and the teacher's text and skills."""
    import numpy as np
    cfg = task_config(task)
    spec = TeacherSpec(cfg)
    import env as env_pkg
    env = env_pkg.make_env(cfg["env_id"])
    teacher = spec.make_teacher(spec.make_planner(), seed)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    teacher.begin(env)
    obs, t_env, t_teacher = None, 0.0, 0.0
    for _ in range(steps):
        t0 = time.perf_counter()
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            obs, _ = env.reset()
            teacher.begin(env)
        t1 = time.perf_counter()
        teacher.teach(env, obs)
        t_teacher += time.perf_counter() - t1
        t_env += t1 - t0
    env.close()
    return t_env / steps * 1e3, t_teacher / steps * 1e3


def optimizer_step_ms(task, steps=200):
    """(weights, {kernel: ms per Adam step}) on the task's student with gradients set (one thread): torch's
    per-tensor loop, its CPU default, against the optimizer algos/learner/ppo.py trains with (the fused kernel)."""
    config = Config(task=task)
    env_id = task_config(task)["env_id"]
    model = build_task_model(config, env_id, observation_shape(env_id), "cpu")
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    out = {}
    for kernel, optimizer in (
            ("per-tensor", torch.optim.Adam(model.parameters(), lr=config.lr, eps=config.adam_eps, foreach=False)),
            ("fused", PPO(model, config).optimizer)):
        for _ in range(5):
            optimizer.step()
        t0 = time.perf_counter()
        for _ in range(steps):
            optimizer.step()
        out[kernel] = (time.perf_counter() - t0) / steps * 1e3
    return sum(p.numel() for p in model.parameters()), out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=["SimpleDoorKey", "TwoDoor"])
    p.add_argument("--num_envs", type=int, nargs="+", default=[1, 16], help="16 is main.py's default")
    p.add_argument("--iterations", type=int, default=4)
    p.add_argument("--workers", type=int, default=-1, help="-1: as main.py train chooses for this machine")
    p.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    p.add_argument("--view", nargs="+", default=["official"], choices=["official", "egocentric"],
                   help="the grid student's view of its map (training's --egocentric)")
    p.add_argument("--optimizer", action="store_true", help="only time one Adam step per task, both kernels")
    p.add_argument("--split", action="store_true", help="also time one env step and one teacher step apart")
    args = p.parse_args(argv)
    if args.optimizer:
        torch.set_num_threads(1)
        print(f"machine: {cpu_cores()} cores, torch {torch.__version__}, one thread")
        print("| task | weights | Adam step, per-tensor loop (ms) | fused (ms) | speed-up |")
        print("|---|---|---|---|---|")
        for task in args.tasks:
            n, ms = optimizer_step_ms(task)
            print(f"| {task} | {n:,} | {ms['per-tensor']:.2f} | {ms['fused']:.2f} | "
                  f"{ms['per-tensor'] / ms['fused']:.1f}x |", flush=True)
        return
    print(f"machine: {cpu_cores()} cores, torch {torch.__version__}, threads as a run alone (utils.cpu_share)")
    print("| task | --num_envs | workers | --precision | view | collection env steps/s (teacher on) | end-to-end env "
          "steps/s | steps measured |")
    print("|---|---|---|---|---|---|---|---|")
    for task in args.tasks:
        for n in args.num_envs:
            workers = resolve_workers(args.workers, n)
            for precision in args.precision:
                for view in args.view:
                    collect_sps, e2e_sps, steps = measure(task, n, workers, args.iterations, precision=precision,
                                                          view=view)
                    print(f"| {task} | {n} | {workers} | {precision} | {view} | {collect_sps:,.0f} | {e2e_sps:,.0f} "
                          f"| {steps:,} |", flush=True)
    if args.split:
        print("\n| task | env step incl. rendering (ms) | teacher step (ms) |\n|---|---|---|")
        for task in args.tasks:
            env_ms, teacher_ms = split_ms(task)
            print(f"| {task} | {env_ms:.2f} | {teacher_ms:.2f} |", flush=True)


if __name__ == "__main__":
    main()
