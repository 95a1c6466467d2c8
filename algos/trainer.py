"""The training loop: collect -> PPO update (+ teacher term) -> log / evaluate / checkpoint, resumable."""
import contextlib
import os
import random
import signal
import sys
import threading
import time

import numpy as np
import torch

from algos.evaluate import eval_seeds, make_eval_group, record_video, run_episodes, student_chooser, summarise
from algos.model import ActorCritic
from algos.ppo import PPO, teacher_coef
from algos.rollout import Rollout, collect
from algos.vec_env import ParallelEnvs
from utils.checkpoint import load_checkpoint, save_atomic
from utils.errors import UserError
from utils.logger import RunLogger
from utils.run import Interrupted, WorkerError
from utils.video import prune_videos


class StopRequest:
    """SIGINT/SIGTERM while training: the first asks the loop to finish the iteration, checkpoint and stop; a
    second one stops at once (Interrupted, a KeyboardInterrupt). Handlers are restored on exit."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = None
        self.signum = None
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested is not None:
            raise Interrupted(signum)
        self.requested = signal.Signals(signum).name
        self.signum = int(signum)

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}
        return False


@contextlib.contextmanager
def sigint_blocked(enabled=True):
    """Block SIGINT while worker processes are spawned: they inherit the mask, so a Ctrl-C sent to the whole
    process group cannot hit them while they import (before they ignore SIGINT themselves); the parent gets the
    pending signal when the block ends."""
    if not enabled or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def stderr_to(path):
    """Point file descriptor 2 at `path` (appending) while worker processes are started: they inherit it, so
    whatever they print (a crash's traceback) goes to that file instead of into the parent's one-line errors."""
    if path is None:
        yield
        return
    sys.stderr.flush()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    log = open(path, "ab")
    saved = os.dup(2)
    try:
        os.dup2(log.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        log.close()


def last_line(path):
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 4096))
            lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return None
    return lines[-1][:200] if lines else None


def stat_tag(key):
    """Logging tag of a planner counter: the recorded table's missing texts under Teacher/, an LLM's under LLM/."""
    if key.startswith("missing_"):
        return "Teacher/" + key.replace("_", " ").title()
    return f"LLM/{key}"


def build_model(cfg, obs_shape, device):
    return ActorCritic(obs_shape, recurrent=cfg["recurrent"]).to(device)


def rng_state():
    """Python, numpy (global), torch and CUDA generator states as plain data (weights_only-loadable)."""
    _, key, pos, has_gauss, gauss = np.random.get_state()
    return {"python": random.getstate(), "torch": torch.get_rng_state(),
            "numpy": {"key": key.tolist(), "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state):
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if state.get("numpy"):
        n = state["numpy"]
        np.random.set_state(("MT19937", np.asarray(n["key"], dtype=np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


WORKER_LOG = "workers.log"  # what worker processes print (stderr), in the run folder
RESUME_KEYS = ("model", "optimizer", "iteration", "env_steps", "rng", "envs", "config", "obs_shape")


class Trainer:
    def __init__(self, cfg, run_dir, spec, device, progress=None, resume=None):
        self.cfg, self.run_dir, self.device = cfg, run_dir, device
        self.spec = spec
        self.progress = progress
        self.envs = self.eval_group = self.logger = None
        self.iteration, self.env_steps, self.wall_offset = 0, 0, 0.0
        self.best = None
        self.last_planner_stats = {}
        self.stats_offset = {}  # planner counters of the sessions before a resume (the logged counts go on)
        self.saved_iteration = None  # iteration of the newest latest.pt (None: none written yet)
        random.seed(cfg["seed"])
        np.random.seed(cfg["seed"] % 2**32)
        torch.manual_seed(cfg["seed"])
        self.worker_log = os.path.join(run_dir, WORKER_LOG) if cfg["workers"] > 0 else None
        try:
            with sigint_blocked(cfg["workers"] > 0), stderr_to(self.worker_log):
                self.envs = ParallelEnvs(cfg["env_id"], cfg["num_envs"], cfg["seed"], spec, workers=cfg["workers"],
                                         frame_stack=cfg["frame_stack"])
            self.obs_shape = self.envs.obs_shape
            self.model = build_model(cfg, self.obs_shape, device)
            self.ppo = PPO(self.model, lr=cfg["lr"], eps=cfg["adam_eps"], clip=cfg["clip"], vf_coef=cfg["vf_coef"],
                           ent_coef=cfg["ent_coef"], max_grad_norm=cfg["max_grad_norm"], epochs=cfg["epochs"],
                           minibatch=cfg["batch_size"])
            self.storage = Rollout(cfg["num_envs"], self.obs_shape)
            if resume is not None:
                self._restore(resume)
                self.saved_iteration = self.iteration
            self.logger = RunLogger(run_dir, extra_tags=[stat_tag(k) for k in self.envs.planner_stats()],
                                    resume_iteration=self.iteration if resume is not None else None,
                                    resume_env_steps=self.env_steps if resume is not None else None)
            if resume is None:
                self.logger.hyperparameters(cfg)
        except BaseException as e:
            message = (self._worker_message() if isinstance(e, (RuntimeError, EOFError, OSError)) and self.dead_workers()
                       else None)
            self.close(abort=True)
            if message:
                raise WorkerError(message, self.worker_log) from None
            raise

    # -- checkpoints -------------------------------------------------------------------------------------------
    def planner_stats(self):
        """Planner counters of the whole run (this session's added to those saved before a resume)."""
        current = self.envs.planner_stats()
        if not self.stats_offset:
            return current
        from planner.llm_planner import merge_stats
        return merge_stats([self.stats_offset, current])

    def checkpoint_payload(self):
        return {"model": self.model.state_dict(), "optimizer": self.ppo.optimizer.state_dict(),
                "iteration": self.iteration, "env_steps": self.env_steps,
                "teacher_coef": teacher_coef(self.iteration, *self._coef_args()),
                "rng": rng_state(), "envs": self.envs.get_state(), "best": self.best,
                "planner_stats": self.planner_stats(),
                "wall_time": self.wall_offset + (time.time() - self.t_start if hasattr(self, "t_start") else 0.0),
                "config": self.cfg, "obs_shape": list(self.obs_shape)}

    def save(self, name="latest"):
        save_atomic(self.checkpoint_payload(), os.path.join(self.run_dir, "checkpoints", f"{name}.pt"))
        if name == "latest":
            self.saved_iteration = self.iteration

    def _restore(self, payload):
        if list(payload.get("obs_shape", [])) != list(self.obs_shape):
            raise UserError(f"checkpoint observation shape {payload.get('obs_shape')} does not match "
                            f"{list(self.obs_shape)} of task {self.cfg['task']}")
        try:
            self.model.load_state_dict(payload["model"])
        except (RuntimeError, KeyError, TypeError, ValueError):
            raise UserError("checkpoint weights do not fit the student network of this run "
                            f"(observation shape {payload['obs_shape']}, recurrent={self.cfg.get('recurrent')})") from None
        try:
            self.ppo.optimizer.load_state_dict(payload["optimizer"])
            self.iteration, self.env_steps = int(payload["iteration"]), int(payload["env_steps"])
            self.best, self.wall_offset = payload.get("best"), float(payload.get("wall_time", 0.0))
            stats = payload.get("planner_stats") or {}
            self.stats_offset = dict(stats) if isinstance(stats, dict) else {}
            set_rng_state(payload["rng"])
            env_state = payload["envs"]
            if not all(len(v) == self.cfg["num_envs"] for v in env_state.values()):
                raise ValueError(f"environment states for {self.cfg['num_envs']} envs expected")
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as e:
            raise UserError(f"checkpoint does not fit this run ({type(e).__name__}: {str(e)[:120]})") from None
        if self.iteration < 0 or self.env_steps < 0:
            raise UserError("checkpoint has a negative iteration or step count")
        self.envs.set_state(env_state)

    def _coef_args(self):
        c = self.cfg
        return c["teacher_coef"], c["teacher_coef_decay"], c["teacher_coef_min"], c["teacher_off_after"]

    # -- worker failures ---------------------------------------------------------------------------------------
    def dead_workers(self, wait=0.5):
        """[(worker index, exit code)] of the worker processes that have exited (waits up to `wait` seconds in
        all for ones that are just exiting: a broken pipe can be seen before the exit)."""
        procs = getattr(self.envs, "procs", None) or []
        deadline = time.monotonic() + wait
        dead = []
        for i, p in enumerate(procs):
            p.join(max(0.0, deadline - time.monotonic()))
            if p.exitcode is not None:
                dead.append((i, p.exitcode))
        return dead

    def _worker_message(self):
        dead = self.dead_workers()
        what = ", ".join(f"{i} (exit code {code})" for i, code in dead)
        detail = last_line(self.worker_log) if self.worker_log else None
        return f"environment worker process {what} died at iteration {self.iteration + 1}" + (
            f": {detail}" if detail else "")

    def resume_hint(self):
        """How to continue this run from its newest checkpoint (one clause)."""
        if self.saved_iteration is None:
            return "no checkpoint was written"
        return (f"continue from iteration {self.saved_iteration} with: "
                f"python main.py train --resume {self.run_dir}")

    # -- evaluation --------------------------------------------------------------------------------------------
    def evaluate(self):
        cfg = self.cfg
        seeds = eval_seeds(cfg["env_seed"], cfg["num_eval"])
        if self.eval_group is None:
            self.eval_group = make_eval_group(cfg["env_id"], seeds, self.spec, use_teacher=False,
                                              frame_stack=cfg["frame_stack"])
        self.model.eval()
        result = summarise(run_episodes(self.eval_group, student_chooser(self.model, self.device)))
        eval_round = self.iteration // cfg["eval_interval"]  # derived, so a resumed run records the same videos
        if cfg["video"] > 0 and cfg["video_every"] > 0 and eval_round % cfg["video_every"] == 1 % cfg["video_every"]:
            self._video(seeds[:cfg["video"]])
        self.model.train()
        return result

    def _video(self, seeds):
        """A short video of the student at this iteration; only the newest max_videos are kept."""
        folder = os.path.join(self.run_dir, "videos")
        record_video(os.path.join(folder, f"itr{self.iteration:06d}.gif"), self.cfg["env_id"], seeds, self.spec,
                     False, self.cfg["frame_stack"], lambda seed: student_chooser(self.model, self.device))
        prune_videos(folder, self.cfg["max_videos"])

    # -- the loop ----------------------------------------------------------------------------------------------
    def train(self):
        """Train up to n_itr / max_env_steps; returns None, or the name of the signal that stopped it early
        (after checkpointing). A second signal raises Interrupted; a dead worker raises WorkerError."""
        self.stop_request = None
        try:
            return self._train()
        except (RuntimeError, EOFError, OSError) as e:
            if self.dead_workers():
                stop = self.stop_request
                if stop is not None and stop.requested:  # e.g. SIGTERM to the whole process group: the workers
                    raise Interrupted(stop.signum) from None  # died of it; stopping was asked for anyway
                raise WorkerError(self._worker_message(), self.worker_log) from None
            if isinstance(e, OSError):  # full disk, lost folder, ... while writing videos or logs
                raise UserError(f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}") from None
            raise

    def _train(self):
        cfg = self.cfg
        self.t_start = time.time()
        teacher_on = None
        stop = None
        with StopRequest() as stop_request:
            self.stop_request = stop_request
            while self.iteration < cfg["n_itr"] and (cfg["max_env_steps"] <= 0 or self.env_steps < cfg["max_env_steps"]):
                itr = self.iteration
                coef = teacher_coef(itr, *self._coef_args())
                if teacher_on != (coef > 0):
                    teacher_on = coef > 0
                    self.envs.set_teacher(teacher_on)
                t0 = time.time()
                batch, episodes = collect(self.model, self.envs, self.storage, self.device, cfg["traj_per_itr"],
                                          2 * cfg["batch_size"], cfg["gamma"], cfg["lam"])
                t1 = time.time()
                losses = self.ppo.update(batch, coef)
                t2 = time.time()
                steps = int(batch["action"].numel())
                self.env_steps += steps
                self.iteration += 1
                metrics = self._train_metrics(episodes, losses, coef, steps, t0, t1, t2)
                if cfg["eval_interval"] > 0 and self.iteration % cfg["eval_interval"] == 0:
                    ev = self.evaluate()
                    metrics.update({"Test/Return": ev["return"], "Test/Eplen": ev["length"],
                                    "Test/Success Rate": ev["success"]})
                    score = (ev["success"], ev["return"])
                    if self.best is None or score > tuple(self.best):
                        self.best = list(score)
                        self.save("best")
                wall = self.wall_offset + time.time() - self.t_start
                self.logger.log(self.iteration, self.env_steps, wall, metrics)
                if self.progress is not None:
                    self.progress.update(self.iteration, self.env_steps, metrics.get("charts/SPS"),
                                         metrics.get("Train/Success Rate"), metrics.get("Test/Success Rate"), coef)
                if cfg["save_interval"] > 0 and self.iteration % cfg["save_interval"] == 0:
                    self.save("latest")
                if stop_request.requested:
                    stop = stop_request.requested
                    break
            if stop is None and stop_request.requested:  # a signal during the last iteration
                stop = stop_request.requested
            if self.saved_iteration != self.iteration:
                self.save("latest")
            self.last_planner_stats = self.planner_stats()
            self.logger.flush()
        return stop

    def _train_metrics(self, episodes, losses, coef, steps, t0, t1, t2):
        returns = np.array([e[0] for e in episodes]) if episodes else np.zeros(1)
        metrics = {
            "Train/Return Mean": float(returns.mean()), "Train/Return Std": float(returns.std()),
            "Train/Eplen": float(np.mean([e[1] for e in episodes])) if episodes else 0.0,
            "Train/Success Rate": float(np.mean([e[2] for e in episodes])) if episodes else 0.0,
            "Train/Episodes": len(episodes),
            "Train/Loss": losses.get("loss"), "Train/Mean Entropy": losses.get("entropy"),
            "Train/Kickstarting Loss": losses.get("teacher"), "Train/Policy Loss": losses.get("policy"),
            "Train/Value Loss": losses.get("value"), "Train/Kickstarting Coef": coef,
            "Train/Approx KL": losses.get("approx_kl"), "Train/Clip Fraction": losses.get("clipfrac"),
            "charts/SPS": steps / max(t2 - t0, 1e-9), "charts/collect_SPS": steps / max(t1 - t0, 1e-9),
            "charts/update_seconds": t2 - t1,
        }
        stats = self.planner_stats() if self.iteration % max(1, self.cfg["eval_interval"]) == 0 else None
        if stats:
            self.last_planner_stats = stats
            metrics.update({stat_tag(k): v for k, v in stats.items()})
        return metrics

    def close(self, abort=False):
        """Release envs, workers and logs. abort=True (after an error or a second Ctrl-C): worker processes are
        terminated instead of being asked to finish, so closing never waits on a busy or dead worker."""
        envs, self.envs = self.envs, None
        if envs is not None:
            if abort and getattr(envs, "workers", 0) > 0:
                _kill_workers(envs)
            else:
                envs.close()
        group, self.eval_group = self.eval_group, None
        if group is not None:
            group.close()
        if self.logger is not None:
            self.logger.close()
        if self.worker_log and os.path.isfile(self.worker_log) and os.path.getsize(self.worker_log) == 0:
            try:
                os.unlink(self.worker_log)
            except OSError:
                pass


def _kill_workers(envs):
    for proc in envs.procs:
        if proc.is_alive():
            proc.terminate()
    for proc in envs.procs:
        proc.join(timeout=2)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=2)
    for conn in envs.conns:
        conn.close()
    try:
        envs.shm.close()
        envs.shm.unlink()
    except (OSError, BufferError):
        pass


def load_for_resume(run_dir):
    """The latest checkpoint of a run folder (UserError when the folder or a complete checkpoint is missing)."""
    if not os.path.isdir(run_dir):
        raise UserError(f"--resume: run folder not found: {run_dir}")
    path = os.path.join(run_dir, "checkpoints", "latest.pt")
    if not os.path.isfile(path):
        raise UserError(f"--resume: {run_dir} has no checkpoint (checkpoints/latest.pt); nothing to continue")
    return load_checkpoint(path, require=RESUME_KEYS)
