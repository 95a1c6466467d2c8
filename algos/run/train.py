"""Training runs as library calls: `train(config) -> RunResult` (one seed: a fresh run, a resumed one or a fork of
another run's checkpoint) and `train_seeds(config) -> [RunResult]` (one run per seed of seed_list, as `main.py train`).

A run lives in <logdir>/ppo/<task>/<savedir>-<seed>/ (config.json, metrics.csv, TensorBoard events, checkpoints/,
videos/). A fresh run that fails or is interrupted before its first iteration leaves no folder behind; one that
fails later keeps its metrics and checkpoints, and the error says how to resume it. An --policy sb3_ppo run is
trained by algos/run/sb3_trainer.py's Sb3Trainer in the same folders (no teacher, no fork).
"""
import dataclasses
import os
import shutil
import signal
import threading
from dataclasses import dataclass, field
from typing import Optional

from algos.run.checkpoint import RESUME_KEYS, saved_config
from algos.config import Config
from algos.run.sb3_trainer import Sb3Trainer, check as check_sb3
from algos.run.run_loop import budget_advice, budget_reached, check_eval_seeds
from algos.run.trainer import Trainer
from planner.llm.urls import was_redacted
from planner.factory import check_planner_inputs, preflight
from teacher.policy import TeacherSpec
from utils.cpu_share import resolve_workers
from utils.checkpoint_file import load_checkpoint, require_keys
from utils.atomic import remove_stale_temps
from utils.errors import Interrupted, UserError, WorkerError
from utils.options import defaults, resumable
from utils.progress import Progress
from utils.run_dir import (RunLock, check_log_dir, check_run_dir_free, default_run_name, make_run_dir, pick_device,
                           plain_name, remove_new_run_dir, run_dir_path, task_dir, write_config)
from planner.task_spec import task_config


@dataclass
class RunResult:
    run_dir: str
    config: Config
    iterations: int                  # iterations the run has now
    env_steps: int
    wall_time: float                 # seconds of training, all sessions
    trained: int                     # iterations this call trained (0: nothing was left to do)
    finished: bool                   # reached n_itr / max_env_steps
    stopped_by: Optional[str]        # what stopped it early (SIGINT, SIGTERM, a sweep's stop), checkpoint written
    best_eval: Optional[list]        # [success, return] of the best periodic evaluation
    last_eval: Optional[dict]        # the last periodic evaluation (return, length, success, episodes)
    planner_stats: dict = field(default_factory=dict)
    resume_hint: str = ""


def _prepare(config):
    """Checks that need no run folder yet; returns (task settings, device, config with the task's name)."""
    config.validate()
    task = task_config(config.task)
    config = dataclasses.replace(config, task=task["name"])
    device = pick_device(config.device)
    if config.has_teacher():  # plain PPO needs no recorded answers, prompt or server
        check_planner_inputs(config, task, task_dir(config.logdir, task["name"]))
    if config.policy == "sb3_ppo":
        check_sb3(config, task)
    elif config.eval_interval > 0:
        check_eval_seeds(config, config.num_envs)
    return task, device, config


def train_seeds(config, given=None, show_progress=True, stop=None):
    """One run per seed of config.seed_list under one run name; stops after a run that was stopped early."""
    if config.resume or config.fork:
        return [train(config, given, show_progress, stop)]
    task, _, config = _prepare(config)
    savedir = plain_name(config.savedir, "--savedir") if config.savedir else default_run_name()
    check_log_dir(config.logdir)
    for seed in config.seed_list:
        check_run_dir_free(run_dir_path(config.logdir, task["name"], savedir, seed))
    results = []
    for seed in config.seed_list:
        results.append(train(dataclasses.replace(config, seed=seed, savedir=savedir), given, show_progress, stop))
        if results[-1].stopped_by:
            break
    return results


def train(config, given=None, show_progress=True, stop=None):
    """Train one run (config.seed) to its budget, continue the run in config.resume, or start a new one from the
    checkpoint in config.fork. `given`: with resume or fork, the settings to change ({name: value}; default: those
    that differ from the defaults); stop(): polled each iteration, returns a reason to checkpoint and stop early, or
    None."""
    if config.fork and config.resume:
        raise UserError("--fork and --resume: a run either continues (--resume) or starts a new one (--fork)")
    if config.resume:
        return _resume(config, given, show_progress, stop)
    if config.fork:
        return _fork(config, given, show_progress, stop)
    task, device, config = _prepare(config)
    savedir = plain_name(config.savedir, "--savedir") if config.savedir else default_run_name()
    check_log_dir(config.logdir)
    check_run_dir_free(run_dir_path(config.logdir, task["name"], savedir, config.seed))
    if config.has_teacher():
        preflight(config)
    config = dataclasses.replace(config, savedir=savedir, seed_list=[config.seed], device=str(device),
                                 workers=resolve_workers(config.workers, config.num_envs))
    return _run(config, task, device, None, None, show_progress, stop)


def _given(config, given):
    """The settings to change when continuing from a checkpoint: `given` (the flags of the command line) or, in a
    library call, the settings that differ from the defaults."""
    if given is not None:
        return given
    base = defaults(Config, "train")
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(Config)
            if getattr(config, f.name) != getattr(base, f.name)}


def _keeps(saved, key, value, verb, rule):
    """UserError when setting `key` to `value` would change what the run to `verb` (resume, fork) must keep."""
    if key == "seed_list":
        if list(value) != [saved.seed]:
            raise UserError(f"--seed_list {' '.join(map(str, value))}: the run to {verb} has seed {saved.seed}")
    elif key == "task":
        if str(value).lower() != saved.task.lower():
            raise UserError(f"--task {value}: the run to {verb} is a {saved.task} run")
    elif getattr(saved, key) != value:
        raise UserError(f"--{key} {value} differs from the run's {getattr(saved, key)}: {rule}")


# what a fork cannot change: the checkpoint's weights, optimizer and env states must fit the new run (and its warm
# start, if any, is its source's: a fork goes on from a trained student)
FORK_KEEPS = ("task", "seed_list", "num_envs", "recurrent", "frame_stack", "mission_mark", "egocentric", "policy",
              "clone_steps", "pixel_encoder")


def _fork(config, given, show_progress, stop):
    source = config.fork
    path = os.path.join(source, "checkpoints", "latest.pt") if os.path.isdir(source) else source
    if not os.path.isfile(path):
        raise UserError(f"--fork: no checkpoint at {path} (give a run folder with checkpoints/latest.pt, or a "
                        f"checkpoint file)")
    payload = load_checkpoint(path, require=("config",))
    saved = saved_config(payload, path)
    if saved.policy == "sb3_ppo":
        raise UserError(f"--fork: {path} is an sb3_ppo run's checkpoint; only the project's PPO runs can be forked")
    require_keys(payload, path, RESUME_KEYS)
    changes = {}
    for key, value in _given(config, given).items():
        if key in ("fork", "resume", "seed"):
            continue
        if key in FORK_KEEPS:
            _keeps(saved, key, value, "fork", f"a fork keeps {', '.join('--' + k for k in FORK_KEEPS)}")
        else:
            changes[key] = value
    if was_redacted(saved.llm_url) and "llm_url" not in changes:
        raise UserError(f"the run asked an LLM at {saved.llm_url}, whose password is not kept: give --llm_url again")
    config = dataclasses.replace(saved, **changes, fork=source, resume=None)
    task, device, config = _prepare(config)
    savedir = plain_name(config.savedir, "--savedir") if "savedir" in changes else default_run_name()
    check_log_dir(config.logdir)
    check_run_dir_free(run_dir_path(config.logdir, task["name"], savedir, config.seed))
    iteration, env_steps = int(payload["iteration"]), int(payload["env_steps"])
    if budget_reached(config, iteration, env_steps):
        raise UserError(f"--fork: the checkpoint is at iteration {iteration} ({env_steps} env steps), already the "
                        f"budget (--n_itr {config.n_itr}, --max_env_steps {config.max_env_steps}); "
                        f"{budget_advice(config, iteration, env_steps)}")
    if config.has_teacher():
        preflight(config)
    config = dataclasses.replace(config, savedir=savedir, device=str(device),
                                 workers=resolve_workers(config.workers, config.num_envs))
    folder = os.path.dirname(os.path.abspath(path))  # a run's checkpoints/: its metrics so far come along
    in_run = os.path.basename(folder) == "checkpoints"
    history = os.path.join(os.path.dirname(folder), "metrics.csv") if in_run else None
    return _run(config, task, device, None, payload, show_progress, stop, history=history)


def _resume(config, given, show_progress, stop):
    run_dir = config.resume
    if not os.path.isdir(run_dir):
        raise UserError(f"--resume: run folder not found: {run_dir}")
    path = os.path.join(run_dir, "checkpoints", "latest.pt")
    if not os.path.isfile(path):
        raise UserError(f"--resume: {run_dir} has no checkpoint (checkpoints/latest.pt); nothing to continue")
    payload = load_checkpoint(path, require=("config",))
    saved = saved_config(payload, path)
    if saved.policy != "sb3_ppo":  # an sb3_ppo run's checkpoint is an index of SB3's files (algos/run/sb3_trainer.py)
        require_keys(payload, path, RESUME_KEYS)
    may_change = resumable(Config)
    changes = {}
    for key, value in _given(config, given).items():
        if key in ("resume", "seed"):
            continue
        if key in may_change:
            changes[key] = value
        else:
            _keeps(saved, key, value, "resume", f"a resumed run keeps its settings (it may change "
                                                f"{', '.join('--' + k for k in sorted(may_change))}; --fork starts a "
                                                f"new run from its checkpoint with others)")
    if "workers" in changes:
        changes["workers"] = resolve_workers(changes["workers"], saved.num_envs)
    if was_redacted(saved.llm_url) and "llm_url" not in changes:
        raise UserError(f"the run asked an LLM at {saved.llm_url}, whose password is not kept: give --llm_url again")
    task, device, config = _prepare(dataclasses.replace(saved, **changes, resume=None))
    config = dataclasses.replace(config, device=str(device))
    iteration, env_steps = int(payload["iteration"]), int(payload["env_steps"])
    if budget_reached(config, iteration, env_steps):
        return RunResult(run_dir, config, iteration, env_steps, float(payload.get("wall_time", 0.0)), 0, True, None,
                         payload.get("best"), None, dict(payload.get("planner_stats") or {}))
    if config.has_teacher():
        preflight(config)
    return _run(config, task, device, run_dir, payload, show_progress, stop)


def _run(config, task, device, run_dir, payload, show_progress, stop, history=None):
    """Train a fresh run (run_dir None) or the run in run_dir from its checkpoint `payload`; a fresh run with a
    `payload` is a fork: it starts from that checkpoint, with the metrics.csv `history` up to it."""
    fresh = run_dir is None
    created, lock, progress, trainer = [], None, None, None
    try:
        if fresh:
            run_dir = make_run_dir(config.logdir, task["name"], config.savedir, config.seed, created)
        lock = RunLock(run_dir)
        if fresh:
            write_config(run_dir, config.public())
            if history and os.path.isfile(history):
                _copy_history(history, run_dir)
        else:
            remove_stale_temps(os.path.join(run_dir, "checkpoints"))
        progress = Progress(config.n_itr, enabled=show_progress, mode="plain" if config.no_progress else "auto")
        if show_progress:
            envs = f"sb3_ppo, --sb3_obs {config.sb3_obs}" if config.policy == "sb3_ppo" else \
                f"{config.num_envs} envs, {config.workers} workers"
            progress.message(f"run {run_dir}: task {config.task}, seed {config.seed}, {envs}, device {device}"
                             + (f", from iteration {payload['iteration']}" if payload else ""))
        if config.policy == "sb3_ppo":  # (never a fork: _fork refuses an sb3_ppo checkpoint)
            trainer = Sb3Trainer(config, task, run_dir, device, progress, stop, resume=None if fresh else payload)
        else:
            spec = TeacherSpec(task, config, task_dir(config.logdir, task["name"]), has_teacher=config.has_teacher())
            trainer = Trainer(config, run_dir, spec, device, progress, resume=payload, stop=stop)
        start = trainer.iteration
        if fresh and payload is not None:  # a fork: its best.pt is the best of its own evaluations, and it can
            trainer.best = None             # resume from its first moment on
            trainer.save("latest")
        if not fresh:
            write_config(run_dir, config.public())  # the new budget, once the checkpoint proved to fit
        stopped = trainer.train()
    except BaseException as e:
        _after_failure(e, progress, trainer, lock, fresh, run_dir, created)
        raise
    progress.close()
    result = RunResult(run_dir, config, trainer.iteration, trainer.env_steps, trainer.wall_time(),
                       trainer.iteration - start, trainer.finished(), stopped, trainer.best, trainer.last_eval,
                       trainer.planner_stats(), trainer.resume_hint())
    trainer.close()
    lock.release()
    return result


def _copy_history(path, run_dir):
    """A fork's metrics so far: the source's metrics.csv (the logger then keeps the rows up to the checkpoint)."""
    try:
        shutil.copyfile(path, os.path.join(run_dir, "metrics.csv"))
    except OSError as e:
        raise UserError(f"--fork: cannot copy {path}: {e.strerror or e}") from None


def _after_failure(e, progress, trainer, lock, fresh, run_dir, created):
    """Clean up after an error or interruption, and add to the error what was kept and how to resume; the caller
    re-raises it (the message of a UserError or WorkerError is extended by that note)."""
    quiet = isinstance(e, KeyboardInterrupt) and threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if quiet else None  # the user asked to quit: clean up in peace
    try:
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
            e.detail = (f"interrupted by {by} at iteration {trainer.iteration + 1}: {trainer.resume_hint()}" if started
                        else f"interrupted by {by} before the first iteration finished; nothing saved")
        elif isinstance(e, (UserError, WorkerError)) and not getattr(e, "noted", False):
            note = f" (worker output: {e.log})" if isinstance(e, WorkerError) and e.log and os.path.isfile(e.log) else ""
            if started and "--resume" not in str(e):
                note += (f"; training stopped after iteration {trainer.iteration} (metrics so far kept in "
                         f"{os.path.join(run_dir, 'metrics.csv')}); {trainer.resume_hint()}")
            e.args, e.noted = (f"{e}{note}",), True
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
