"""LLM4Teach: an LLM as a policy teacher for a PPO student on MiniGrid.

    python main.py train --task SimpleDoorKey
    python main.py eval  --task SimpleDoorKey --loaddir log/ppo/SimpleDoorKey/<run>-0
    python main.py eval  --task SimpleDoorKey --eval_teacher
    python main.py plot  log/ppo/SimpleDoorKey --out curves.png
"""
import argparse
import os
import signal
import sys
import threading

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


def workers_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= -1, got {text!r}") from None
    if value < -1:
        raise argparse.ArgumentTypeError(f"expected -1 (one per core), 0 (none) or a positive count, got {value}")
    return value


def unit_float(text):
    value = non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text}")
    return value


def add_common(p):
    """Flags shared by train and eval (the official names first)."""
    p.add_argument("--task", default="SimpleDoorKey", help="SimpleDoorKey | LavaDoorKey | ColoredDoorKey | TwoDoor")
    p.add_argument("--seed_list", type=non_negative_int, nargs="+", default=[0], help="one run per seed")
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
    t.add_argument("--workers", type=workers_int, default=-1, help="worker processes for the envs (-1: one per core, 0: none)")
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
def cpu_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def resolve_workers(requested, num_envs):
    """--workers -1: no worker processes on 1-2 cores (measured: the batched student forward with both cores
    plus in-process envs beats worker processes there, see bench/throughput.py); with more cores, half of them
    step the envs and their teachers while the rest run the student."""
    if requested >= 0:
        return min(requested, num_envs)
    cores = cpu_cores()
    return 0 if cores <= 2 else min(cores // 2, num_envs)


def torch_threads(workers):
    """Threads for the student's forward and update: OMP_NUM_THREADS if set, else all cores less those the env
    workers keep busy."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    return max(1, cpu_cores() - workers)


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


# options a resumed run may change: budgets and things that do not change what it computes
RESUME_MAY_CHANGE = {"n_itr", "max_env_steps", "no_progress", "device", "workers", "save_interval", "logdir",
                     "llm_url", "llm_api_key_env", "llm_timeout", "llm_retries", "plan_cache"}
NOT_IN_CONFIG = ("command", "seed_list", "resume", "given")


def given_options(parser, argv):
    """{dest: value} of the options written on the command line (not defaults) of `argv`."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command in sub.choices.values():
        for action in command._actions:
            action.default = argparse.SUPPRESS
    ns = parser.parse_args(argv)
    return {k: v for k, v in vars(ns).items() if k != "command"}


def check_teacher_inputs(args, task_cfg):
    """Read the files the teacher will use (recorded answers / prompt and plan cache) so a malformed one fails
    now, with one line, before any run folder exists."""
    from planner.factory import plan_cache_path, uses_llm
    from planner.plan_cache import PlanCache
    from utils.run import task_dir
    from utils.tasks import load_prompt, load_recorded_answers
    if uses_llm(args):
        load_prompt(task_cfg)
        path = plan_cache_path(args, task_dir(args.logdir, task_cfg["name"]))
        if path is not None and os.path.lexists(path):
            PlanCache(path).entries()
    else:
        load_recorded_answers(task_cfg, getattr(args, "answers_file", None))


def run_train(args):
    if args.loaddir:
        raise UserError("train does not use --loaddir (that is for eval); continue a run with --resume RUN_DIR")
    if args.resume:
        return resume_train(args)
    from utils.run import check_log_dir, check_run_dir_free, default_run_name, run_dir_path

    task_cfg, device = check_common(args)
    if len(set(args.seed_list)) != len(args.seed_list):
        raise UserError(f"--seed_list has a seed twice: {' '.join(map(str, args.seed_list))}")
    check_teacher_inputs(args, task_cfg)
    savedir = args.savedir or default_run_name()  # one name for all seeds
    check_log_dir(args.logdir)
    for seed in args.seed_list:
        check_run_dir_free(run_dir_path(args.logdir, task_cfg["name"], savedir, seed))
    from planner.factory import preflight
    preflight(args)
    workers = resolve_workers(args.workers, args.num_envs)
    for seed in args.seed_list:
        cfg = {k: v for k, v in vars(args).items() if k not in NOT_IN_CONFIG}
        cfg.update(seed=seed, env_id=task_cfg["env_id"], env_seed=args.env_seed_list[0], workers=workers,
                   device=str(device), savedir=savedir)
        status = train_one(cfg, None, None, args, task_cfg, device)
        if status:
            return status
    return 0


def resume_train(args):
    from algos.trainer import load_for_resume
    from planner.factory import preflight

    payload = load_for_resume(args.resume)
    defaults = {k: v for k, v in vars(build_parser().parse_args(["train"])).items() if k not in NOT_IN_CONFIG}
    saved = payload["config"]
    missing = [k for k in ("task", "seed", "env_id", "env_seed", "num_envs", "workers") if k not in saved]
    if missing:
        raise UserError(f"checkpoint of {args.resume} has no {', '.join(missing)} in its config; cannot resume it")
    cfg = {**defaults, **saved}
    given = getattr(args, "given", None)
    if given is None:  # called without main(): options that differ from the defaults count as given
        given = {k: v for k, v in vars(args).items() if k in defaults and v != defaults[k]}
    for key, value in given.items():
        if key in ("resume", "given"):
            continue
        if key in RESUME_MAY_CHANGE:
            cfg[key] = value
        elif key == "seed_list":
            if list(value) != [cfg["seed"]]:
                raise UserError(f"--seed_list {' '.join(map(str, value))}: the run to resume has seed {cfg['seed']}")
        elif key == "task":
            if str(value).lower() != str(cfg["task"]).lower():
                raise UserError(f"--task {value}: the run to resume is a {cfg['task']} run")
        elif cfg.get(key) != value:
            raise UserError(f"--{key} {value} differs from the run's {cfg.get(key)}: a resumed run keeps its settings "
                            f"(it may change {', '.join('--' + k for k in sorted(RESUME_MAY_CHANGE))})")
    if "workers" in given:
        cfg["workers"] = resolve_workers(given["workers"], cfg["num_envs"])
    run_args = argparse.Namespace(**{**vars(args), **{k: v for k, v in cfg.items() if k in vars(args)}})
    run_args.resume = args.resume
    task_cfg, device = check_common(run_args)
    if task_cfg["env_id"] != cfg["env_id"]:
        raise UserError(f"the run's environment {cfg['env_id']} is not the one of task {task_cfg['name']} now "
                        f"({task_cfg['env_id']}); cannot resume it")
    cfg["device"] = str(device)
    check_teacher_inputs(run_args, task_cfg)
    iteration, env_steps = int(payload["iteration"]), int(payload["env_steps"])
    if iteration >= cfg["n_itr"] or 0 < cfg["max_env_steps"] <= env_steps:
        print(f"run {args.resume} already has {iteration} iterations and {env_steps} env steps (--n_itr "
              f"{cfg['n_itr']}, --max_env_steps {cfg['max_env_steps']}): nothing to do; pass a larger --n_itr "
              "to continue it", flush=True)
        return 0
    preflight(run_args)
    return train_one(cfg, args.resume, payload, run_args, task_cfg, device)


def train_one(cfg, run_dir, payload, run_args, task_cfg, device):
    """Train one run (a fresh one when run_dir is None); returns the exit status. A fresh run that fails or is
    interrupted before its first iteration leaves no folder behind."""
    import torch
    from algos.trainer import Trainer
    from utils.checkpoint import remove_stale_temps
    from utils.progress import Progress
    from utils.run import RunLock, make_run_dir, write_config

    torch.set_num_threads(torch_threads(cfg["workers"]))
    fresh = run_dir is None
    created, lock, progress, trainer = [], None, None, None
    try:
        if fresh:
            run_dir = make_run_dir(cfg["logdir"], cfg["task"], cfg["savedir"], cfg["seed"], created)
        lock = RunLock(run_dir)
        if fresh:
            write_config(run_dir, cfg)
        else:
            remove_stale_temps(os.path.join(run_dir, "checkpoints"))
        print(f"run {run_dir}: task {cfg['task']}, seed {cfg['seed']}, {cfg['num_envs']} envs, "
              f"{cfg['workers']} workers, device {device}" + (f", from iteration {payload['iteration']}" if payload else ""),
              flush=True)
        progress = Progress(cfg["n_itr"], mode="plain" if cfg.get("no_progress") else "auto")
        trainer = Trainer(cfg, run_dir, teacher_spec(run_args, task_cfg), device, progress, resume=payload)
        if not fresh:
            write_config(run_dir, cfg)  # the new budget; only once the checkpoint proved to fit
        stopped = trainer.train()
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt) and threading.current_thread() is threading.main_thread():
            old_sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the user asked to quit: clean up in peace
        else:
            old_sigint = None
        try:
            return _after_failure(e, progress, trainer, lock, fresh, run_dir, created)
        finally:
            if old_sigint is not None:
                signal.signal(signal.SIGINT, old_sigint)
    progress.close()
    trainer.close()
    lock.release()
    stats = trainer.last_planner_stats
    print(f"done {run_dir}: {trainer.iteration} iterations, {trainer.env_steps} env steps, "
          f"best eval success {trainer.best[0] if trainer.best else 'n/a'}; {summarise_planner(stats)}", flush=True)
    if stopped:
        print(f"stopped by {stopped} after iteration {trainer.iteration}: checkpoint saved; continue with: "
              f"python main.py train --resume {run_dir}", file=sys.stderr, flush=True)
        return 128 + trainer.stop_request.signum
    return 0


def _after_failure(e, progress, trainer, lock, fresh, run_dir, created):
    """Clean up after an error or interruption in train_one; returns the exit status or raises one line."""
    from utils.run import Interrupted, WorkerError, remove_new_run_dir
    if progress is not None:
        progress.close()
    started = trainer is not None and (trainer.iteration > 0 or trainer.saved_iteration is not None)
    if trainer is not None:
        trainer.close(abort=True)
    if lock is not None:
        lock.release()
    if fresh and run_dir is not None and not started:
        remove_new_run_dir(run_dir, created)
    if isinstance(e, KeyboardInterrupt):
        by = signal.Signals(e.signum).name if isinstance(e, Interrupted) else "SIGINT"
        where = (f"at iteration {trainer.iteration + 1}: {trainer.resume_hint()}" if started
                 else "before the first iteration finished; nothing saved")
        print(f"interrupted by {by} {where}", file=sys.stderr, flush=True)
        return e.exit_status if isinstance(e, Interrupted) else 130
    if isinstance(e, WorkerError):
        log = f" (worker output: {e.log})" if e.log and os.path.isfile(e.log) else ""
        if started:
            raise WorkerError(f"{e}{log}; training stopped after iteration {trainer.iteration}; "
                              f"{trainer.resume_hint()}") from None
        raise WorkerError(f"{e}{log}") from None
    if started and isinstance(e, UserError):
        raise UserError(f"{e}; training stopped after iteration {trainer.iteration} (metrics so far kept in "
                        f"{os.path.join(run_dir, 'metrics.csv')}); {trainer.resume_hint()}") from None
    raise e


def summarise_planner(stats):
    from planner.llm_planner import summary_line
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
    from utils.run import check_log_dir, task_dir

    task_cfg, device = check_common(args)
    if args.video:
        check_log_dir(os.path.dirname(os.path.abspath(args.video_path)) if args.video_path
                      else os.path.join(args.logdir, "videos"))
    if args.eval_teacher:
        check_log_dir(task_dir(args.logdir, task_cfg["name"]))
        check_teacher_inputs(args, task_cfg)
        preflight(args)
        spec, frame_stack, model = teacher_spec(args, task_cfg), 1, None
        label = "teacher"
    else:
        if not args.loaddir:
            raise UserError("eval needs --loaddir RUN_DIR (or --eval_teacher to evaluate the teacher alone)")
        path = checkpoint_path(args.loaddir, args.loadmodel)
        payload = load_checkpoint(path, map_location=device)
        cfg = payload["config"]
        if str(cfg.get("task", "")).lower() != task_cfg["name"].lower():
            raise UserError(f"checkpoint is for task {cfg.get('task')}, not {task_cfg['name']}")
        frame_stack = cfg.get("frame_stack", 1)
        if not isinstance(frame_stack, int) or frame_stack < 1:
            raise UserError(f"checkpoint {path} has a malformed frame_stack {frame_stack!r} in its config")
        import env as env_pkg
        from algos.vec_env import TeacherSpec, stacked_shape
        env_shape = list(stacked_shape(env_pkg.make_env(task_cfg["env_id"]).observation_space.shape, frame_stack))
        if list(payload["obs_shape"]) != env_shape:
            raise UserError(f"checkpoint observation shape {list(payload['obs_shape'])} does not match {env_shape} "
                            f"of task {task_cfg['name']} with frame_stack {frame_stack}")
        check_teacher_inputs(argparse.Namespace(offline_planner=True, answers_file=None), task_cfg)
        spec = TeacherSpec(task_cfg)
        model = ActorCritic(tuple(payload["obs_shape"]), recurrent=bool(cfg.get("recurrent"))).to(device)
        try:
            model.load_state_dict(payload["model"])
        except (RuntimeError, TypeError, KeyError):
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
        try:
            write_teacher_eval(task_dir(args.logdir, task_cfg["name"]), {
                "task": task_cfg["name"], "success_rate": total["success"], "mean_return": total["return"],
                "mean_length": total["length"], "num_eval": total["episodes"], "soft_planner": args.soft_planner})
        except OSError as e:
            raise UserError(f"cannot write the teacher's result to {task_dir(args.logdir, task_cfg['name'])}: "
                            f"{e.strerror or e}") from None
        print(f"teacher: {summarise_planner(stats)}")
    return 0


def eval_video(args, task_cfg, spec, frame_stack, make_chooser, seeds):
    """The first --video episodes to --video_path (default log/videos/<task>-<student|teacher>.gif)."""
    from algos.evaluate import record_video
    who = "teacher" if args.eval_teacher else "student"
    path = args.video_path or os.path.join(args.logdir, "videos", f"{task_cfg['name']}-{who}.gif")
    record_video(path, task_cfg["env_id"], seeds[:args.video], spec, args.eval_teacher, frame_stack, make_chooser)
    print(f"video: {path}")


def _on_sigterm(signum, frame):
    from utils.run import Interrupted
    raise Interrupted(signum)


def main(argv=None):
    """The command line; returns the exit status: 0 ok, 2 bad input (one line `error: ...` on stderr),
    1 a worker process died, 128 + signal number when stopped by SIGINT (130) / SIGTERM (143)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    old_sigterm = None
    if threading.current_thread() is threading.main_thread():
        old_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)  # SIGTERM ends like Ctrl-C: cleaned up, one line
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command == "train":
            args.given = given_options(build_parser(), argv)
            return run_train(args)
        if args.command == "eval":
            return run_eval(args)
        from utils.plot import run_plot
        return run_plot(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt as e:
        print("interrupted", file=sys.stderr, flush=True)
        return getattr(e, "exit_status", 130)
    except Exception as e:  # noqa: BLE001 - WorkerError (the others are bugs: traceback)
        from utils.run import WorkerError
        if isinstance(e, WorkerError):
            print(f"error: {e}", file=sys.stderr, flush=True)
            return 1
        raise
    finally:
        if old_sigterm is not None:
            signal.signal(signal.SIGTERM, old_sigterm)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        status = main()
    except KeyboardInterrupt:  # a Ctrl-C in the last instants (after main's own handling)
        sys.stderr.write("interrupted\n")
        status = 130
    except BrokenPipeError:  # our stdout was closed by its reader (`main.py eval ... | head`): end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # exiting anyway: a late Ctrl-C must not kill us mid-exit
    sys.exit(status)
