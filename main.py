"""LLM4Teach: an LLM as a policy teacher for a PPO student on MiniGrid.

    python main.py train --task SimpleDoorKey
    python main.py eval  --task SimpleDoorKey --loaddir log/ppo/SimpleDoorKey/<run>-0
    python main.py eval  --task SimpleDoorKey --eval_teacher
    python main.py plot  log/ppo/SimpleDoorKey --out curves.png
"""
import argparse
import os
import sys

from utils.errors import UserError


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2), like every other user error of this program."""

    def error(self, message):
        print(f"error: {message} (see: python {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def unit_float(text):
    value = non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text}")
    return value


def add_common(p):
    """Flags shared by train and eval (the official names first)."""
    p.add_argument("--task", default="SimpleDoorKey", help="SimpleDoorKey | LavaDoorKey | ColoredDoorKey | TwoDoor")
    p.add_argument("--seed_list", type=int, nargs="+", default=[0], help="one run per seed")
    p.add_argument("--env_seed_list", type=non_negative_int, nargs="+", default=[1_000_000],
                   help="evaluation env seeds: eval episode i of seed s uses env seed s + i (held out from training)")
    p.add_argument("--device", default="auto", help="auto (cuda if available) | cpu | cuda | cuda:N")
    p.add_argument("--policy", default="ppo", choices=["ppo"])
    p.add_argument("--frame_stack", type=positive_int, default=1, help="memory maps stacked as channels")
    p.add_argument("--recurrent", action="store_true", help="LSTM student (FC 256 -> 2-layer LSTM 256)")
    p.add_argument("--logdir", default="log")
    p.add_argument("--loaddir", default=None, help="run folder (or checkpoint file) to load")
    p.add_argument("--loadmodel", default="latest", help="checkpoint in <loaddir>/checkpoints: latest | best | NAME.pt")
    p.add_argument("--offline_planner", action="store_true", help="recorded LLM answers (the default without --llm_url)")
    p.add_argument("--soft_planner", action="store_true", help="teacher mixes all plans by probability (default: one sampled plan per step)")
    p.add_argument("--num_eval", type=positive_int, default=10, help="evaluation episodes")
    p.add_argument("--goto_avoids_lava", action="store_true",
                   help="the teacher's go-to never steps into lava (the official go-to does)")
    from planner.factory import add_llm_arguments
    add_llm_arguments(p)


def build_parser():
    parser = Parser(prog="main.py", description="LLM4Teach: an LLM as a policy teacher for RL")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a student (PPO + teacher term)")
    add_common(t)
    t.add_argument("--savedir", default=None, help="run name (default: run-<date>-<time>); folder <savedir>-<seed>")
    t.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run from its latest checkpoint")
    t.add_argument("--n_itr", type=positive_int, default=20000, help="PPO iterations")
    t.add_argument("--max_env_steps", type=non_negative_int, default=0, help="stop after this many env steps (0: no limit)")
    t.add_argument("--traj_per_itr", type=positive_int, default=10, help="episodes collected per iteration (at least)")
    t.add_argument("--batch_size", type=positive_int, default=128, help="minibatch size; >= 2x this many steps per iteration")
    t.add_argument("--epochs", type=positive_int, default=3)
    t.add_argument("--lr", type=non_negative_float, default=1e-3)
    t.add_argument("--adam_eps", type=non_negative_float, default=1e-8)
    t.add_argument("--gamma", type=unit_float, default=0.99)
    t.add_argument("--lam", type=unit_float, default=1.0,
                   help="GAE lambda; 1 = Monte-Carlo returns minus V as in the official code")
    t.add_argument("--clip", type=non_negative_float, default=0.2)
    t.add_argument("--vf_coef", type=non_negative_float, default=0.5)
    t.add_argument("--ent_coef", type=non_negative_float, default=0.001)
    t.add_argument("--max_grad_norm", type=non_negative_float, default=0.5)
    t.add_argument("--teacher_coef", type=non_negative_float, default=10.0, help="initial teacher coefficient (0: plain PPO)")
    t.add_argument("--teacher_coef_decay", type=non_negative_float, default=0.005, help="subtracted per iteration")
    t.add_argument("--teacher_coef_min", type=non_negative_float, default=0.1)
    t.add_argument("--teacher_off_after", type=non_negative_int, default=3000, help="teacher term off from this iteration")
    t.add_argument("--num_envs", type=positive_int, default=16, help="environments stepped in parallel")
    t.add_argument("--workers", type=int, default=-1, help="worker processes for the envs (-1: one per core, 0: none)")
    t.add_argument("--eval_interval", type=non_negative_int, default=10, help="iterations between evaluations (0: never)")
    t.add_argument("--save_interval", type=non_negative_int, default=100, help="iterations between checkpoints")
    t.add_argument("--video", type=non_negative_int, default=1, help="eval episodes recorded per evaluation video (0: none)")
    t.add_argument("--video_every", type=non_negative_int, default=50, help="record a video every N evaluations")
    t.add_argument("--max_videos", type=non_negative_int, default=5, help="videos kept per run")
    t.add_argument("--no_progress", action="store_true", help="plain output even on a terminal")

    e = sub.add_parser("eval", help="evaluate a trained student or the teacher alone")
    add_common(e)
    e.add_argument("--eval_teacher", action="store_true", help="evaluate the teacher itself (no --loaddir needed)")
    e.add_argument("--video", type=non_negative_int, default=0, help="record the first N episodes to a video")
    e.add_argument("--video_path", default=None, help="video file (.gif or .mp4)")

    pl = sub.add_parser("plot", help="learning curves of runs")
    from utils.plot import add_plot_arguments
    add_plot_arguments(pl)
    return parser


# -- train -------------------------------------------------------------------------------------------------------
def resolve_workers(requested, num_envs):
    if requested >= 0:
        return min(requested, num_envs)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 0 if cores <= 1 else min(cores, num_envs)


def teacher_spec(args, task_cfg):
    from algos.vec_env import TeacherSpec
    from planner.factory import uses_llm
    from utils.run import task_dir
    llm = uses_llm(args)
    return TeacherSpec(task_cfg, planner_args=args if (llm or args.answers_file) else None,
                       task_log_dir=task_dir(args.logdir, task_cfg["name"]), soft=args.soft_planner,
                       goto_through_lava=not args.goto_avoids_lava)


def check_common(args):
    """Validate what argparse cannot: task name, device, LLM flags. Returns (task settings, device)."""
    from planner.factory import check_llm_args
    from utils.run import pick_device
    from utils.tasks import task_config
    task_cfg = task_config(args.task)
    args.task = task_cfg["name"]
    device = pick_device(args.device)
    check_llm_args(args)
    return task_cfg, device


def run_train(args):
    import torch
    from algos.trainer import Trainer, load_for_resume
    from planner.factory import preflight
    from utils.progress import Progress
    from utils.run import make_run_dir, write_config

    if args.resume:
        payload = load_for_resume(args.resume)
        cfg = dict(payload["config"])
        for key in ("n_itr", "max_env_steps"):  # a resumed run may be given a longer budget
            if getattr(args, key) != build_parser().parse_args(["train"]).__dict__[key]:
                cfg[key] = getattr(args, key)
        saved = argparse.Namespace(**{**vars(args), **{k: v for k, v in cfg.items() if k in vars(args)}})
        saved.resume = args.resume
        task_cfg, device = check_common(saved)
        preflight(saved)
        runs = [(cfg, args.resume, payload, saved)]
    else:
        task_cfg, device = check_common(args)
        preflight(args)
        runs = []
        for seed in args.seed_list:
            cfg = {k: v for k, v in vars(args).items() if k not in ("command", "seed_list", "resume")}
            cfg.update(seed=seed, env_id=task_cfg["env_id"], env_seed=args.env_seed_list[0],
                       workers=resolve_workers(args.workers, args.num_envs), device=str(device))
            runs.append((cfg, None, None, args))
    torch.set_num_threads(max(1, torch.get_num_threads()))
    status = 0
    for cfg, run_dir, payload, run_args in runs:
        if run_dir is None:
            run_dir = make_run_dir(cfg["logdir"], cfg["task"], cfg["savedir"], cfg["seed"])
            write_config(run_dir, cfg)
        print(f"run {run_dir}: task {cfg['task']}, seed {cfg['seed']}, {cfg['num_envs']} envs, "
              f"{cfg['workers']} workers, device {device}", flush=True)
        progress = Progress(cfg["n_itr"], mode="plain" if cfg.get("no_progress") else "auto")
        trainer = Trainer(cfg, run_dir, teacher_spec(run_args, task_cfg), device, progress, resume=payload)
        try:
            stopped = trainer.train()
        finally:
            progress.close()
            trainer.close()
        stats = trainer.last_planner_stats
        print(f"done {run_dir}: {trainer.iteration} iterations, {trainer.env_steps} env steps, "
              f"best eval success {trainer.best[0] if trainer.best else 'n/a'}; {summarise_planner(stats)}", flush=True)
        if stopped:
            print(f"stopped by {stopped}: checkpoint saved; continue with: python main.py train --resume {run_dir}",
                  file=sys.stderr, flush=True)
            return 130
    return status


def summarise_planner(stats):
    from planner.factory import summary_line
    return summary_line(stats)


# -- eval --------------------------------------------------------------------------------------------------------
def checkpoint_path(loaddir, loadmodel):
    if os.path.isfile(loaddir):
        return loaddir
    if not os.path.isdir(loaddir):
        raise UserError(f"--loaddir not found: {loaddir}")
    name = loadmodel if loadmodel.endswith(".pt") else f"{loadmodel}.pt"
    return os.path.join(loaddir, "checkpoints", name)


def run_eval(args):
    import numpy as np
    import torch
    from algos.evaluate import (eval_seeds, make_eval_group, run_episodes, student_chooser, summarise,
                                teacher_chooser)
    from algos.model import ActorCritic
    from planner.factory import preflight
    from utils.checkpoint import load_checkpoint
    from utils.run import task_dir

    task_cfg, device = check_common(args)
    if args.eval_teacher:
        preflight(args)
        spec, frame_stack, model = teacher_spec(args, task_cfg), 1, None
        label = "teacher"
    else:
        if not args.loaddir:
            raise UserError("eval needs --loaddir RUN_DIR (or --eval_teacher to evaluate the teacher alone)")
        payload = load_checkpoint(checkpoint_path(args.loaddir, args.loadmodel), map_location=device)
        cfg = payload["config"]
        if str(cfg.get("task", "")).lower() != task_cfg["name"].lower():
            raise UserError(f"checkpoint is for task {cfg.get('task')}, not {task_cfg['name']}")
        frame_stack = int(cfg.get("frame_stack", 1))
        from algos.vec_env import TeacherSpec
        spec = TeacherSpec(task_cfg)
        model = ActorCritic(tuple(payload["obs_shape"]), recurrent=bool(cfg.get("recurrent"))).to(device)
        try:
            model.load_state_dict(payload["model"])
        except RuntimeError:
            raise UserError("checkpoint weights do not fit this task's student network "
                            f"(observation shape {payload['obs_shape']}, recurrent={cfg.get('recurrent')})") from None
        model.eval()
        label = "student"
    all_results = []
    for env_seed in args.env_seed_list:
        seeds = eval_seeds(env_seed, args.num_eval)
        def make_chooser(seed):
            if model is None:
                return teacher_chooser(np.random.default_rng(seed))
            torch.manual_seed(seed)
            return student_chooser(model, device)

        if args.video and env_seed == args.env_seed_list[0]:
            eval_video(args, task_cfg, spec, frame_stack, make_chooser, seeds)
        group = make_eval_group(task_cfg["env_id"], seeds, spec, use_teacher=args.eval_teacher, frame_stack=frame_stack)
        choose = make_chooser(env_seed)
        try:
            results = run_episodes(group, choose)
            stats = group.planner_stats()
        finally:
            group.close()
        s = summarise(results)
        print(f"{task_cfg['name']} {label}, env seeds {env_seed}..{env_seed + args.num_eval - 1}: "
              f"mean return {s['return']:.3f}, mean length {s['length']:.1f}, success rate {s['success']:.3f} "
              f"over {s['episodes']} episodes", flush=True)
        all_results += results
    total = summarise(all_results)
    if len(args.env_seed_list) > 1:
        print(f"overall: mean return {total['return']:.3f}, mean length {total['length']:.1f}, "
              f"success rate {total['success']:.3f} over {total['episodes']} episodes")
    if args.eval_teacher:
        from utils.teacher_eval import write_teacher_eval
        write_teacher_eval(task_dir(args.logdir, task_cfg["name"]), {
            "task": task_cfg["name"], "success_rate": total["success"], "mean_return": total["return"],
            "mean_length": total["length"], "num_eval": total["episodes"], "soft_planner": args.soft_planner})
        print(f"teacher: {summarise_planner(stats)}")
    return 0


def eval_video(args, task_cfg, spec, frame_stack, make_chooser, seeds):
    """The first --video episodes to --video_path (default log/videos/<task>-<student|teacher>.gif)."""
    from algos.evaluate import record_video
    who = "teacher" if args.eval_teacher else "student"
    path = args.video_path or os.path.join(args.logdir, "videos", f"{task_cfg['name']}-{who}.gif")
    record_video(path, task_cfg["env_id"], seeds[:args.video], spec, args.eval_teacher, frame_stack, make_chooser)
    print(f"video: {path}")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return run_train(args)
        if args.command == "eval":
            return run_eval(args)
        from utils.plot import run_plot
        return run_plot(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
