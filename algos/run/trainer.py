"""The training loop of one run: collect -> PPO update (+ teacher term) -> log / evaluate / checkpoint.

    trainer = Trainer(config, run_dir, spec, device, progress, resume=payload)
    stopped_by = trainer.train()      # None, or the signal after which it stopped (checkpoint written)
"""
import dataclasses
import os
import time

import numpy as np
import torch

from algos.run.checkpoint import build_model, load_weights, rng_state, seed_everything, set_rng_state
from algos.vec_env.env_pool import EnvPool
from algos.run.episodes import (eval_pool, eval_seeds, record_video, run_episodes, student_chooser, summarise,
                            teacher_chooser, training_seeds, until_a_success)
from algos.learner.ppo import PPO, learning_rate
from algos.learner.rollout import Rollout, collect
from algos.learner.schedule import Evidence, make_schedule
from algos.run.stop_request import StopRequest
from planner.live.stats import merge_stats, progress_state, stat_tag
from utils.checkpoint_file import save_checkpoint
from utils.cpu_share import CpuShare
from utils.errors import Diverged, Interrupted, UserError, WorkerError
from utils.interrupt import WaitInterrupted
from utils.logger import RunLogger
from utils.video import prune_videos

WORKER_LOG = "workers.log"  # what worker processes print (stderr), in the run folder


def budget_reached(config, iteration, env_steps):
    """Whether a run at this iteration and env-step count has its budget (--n_itr, --max_env_steps)."""
    return iteration >= config.n_itr or 0 < config.max_env_steps <= env_steps


class Trainer:
    def __init__(self, config, run_dir, spec, device, progress=None, resume=None, stop=None):
        self.config, self.run_dir, self.spec, self.device = config, run_dir, spec, device
        self.progress, self.stop = progress, stop
        self.pool = self.eval_pool = self.logger = self.share = None
        self.iteration, self.env_steps, self.wall_offset = 0, 0, 0.0
        self.best, self.last_eval, self.stats_offset = None, None, {}
        self.saved_iteration = None  # iteration of the newest latest.pt (None: none written yet)
        self.stop_request = None
        seed_everything(config.seed)
        try:
            n, seed = config.num_envs, config.seed
            # the training envs' teacher never waits for a live LLM (--llm_wait never); evaluation's always does
            self.pool = EnvPool(spec.task["env_id"], training_seeds(seed, n), [[seed, i] for i in range(n)],
                                dataclasses.replace(spec, nonblocking=True), workers=config.workers, frame_stack=config.frame_stack,
                                worker_log=os.path.join(run_dir, WORKER_LOG), count_bonus=config.count_bonus)
            self.model = build_model(config, self.pool.obs_shape, device)
            self.ppo = PPO(self.model, config)
            self.storage = Rollout(n, self.pool.obs_shape)
            self.schedule = make_schedule(config)
            if resume is not None:
                self._restore(resume)
                self.saved_iteration = self.iteration
            tags = list(self.schedule.metrics()) + [stat_tag(k) for k in self.pool.planner_stats()] + \
                (["Teacher/Imitated Share"] if config.teacher_filter != "none" else []) + \
                (list(self.ppo.trust.metrics()) if self.ppo.trust is not None else []) + \
                (["Train/Guided Share", "Train/Guided Episodes", "Train/Guided Success Rate"]
                 if self.schedule.rolls_in else [])
            self.logger = RunLogger(run_dir, extra_tags=tags,
                                    resume_iteration=self.iteration if resume is not None else None,
                                    hyperparameters=config.public(),
                                    history=resume.get("metrics_csv") if resume is not None else None)
            self.share = CpuShare(reserved=config.workers)
        except BaseException:
            self.close(abort=True)
            raise

    # -- checkpoints -------------------------------------------------------------------------------------------
    def planner_stats(self):
        """Planner counters of the whole run (this session's added to those saved before a resume)."""
        current = self.pool.planner_stats()
        return merge_stats([self.stats_offset, current]) if self.stats_offset else current

    def save(self, name="latest", snapshot=None):
        """Checkpoint the state after the current iteration (`snapshot`: the RNG and env states taken when it
        started, for an iteration whose collection was cut short: model and optimizer are then unchanged)."""
        rng, envs = snapshot if snapshot is not None else (rng_state(), self.pool.get_state())
        payload = {"model": self.model.state_dict(), "optimizer": self.ppo.optimizer.state_dict(),
                   "iteration": self.iteration, "env_steps": self.env_steps,
                   "teacher_coef": self.schedule.coef(self.iteration, self.env_steps),
                   "schedule": self.schedule.state_dict(),
                   "text_trust": None if self.ppo.trust is None else self.ppo.trust.state_dict(),
                   "rng": rng, "envs": envs, "best": self.best,
                   "planner_stats": self.planner_stats(), "wall_time": self.wall_time(),
                   "config": self.config.public(), "obs_shape": list(self.pool.obs_shape),
                   "metrics_csv": self.logger.history()}  # the rows up to this iteration: a resume restores them
        save_checkpoint(payload, os.path.join(self.run_dir, "checkpoints", f"{name}.pt"))
        if name == "latest":
            self.saved_iteration, self.saved_at = self.iteration, time.monotonic()
            if self.config.keep_checkpoints:
                save_checkpoint(payload, os.path.join(self.run_dir, "checkpoints", f"itr{self.iteration:06d}.pt"))

    def _restore(self, payload):
        load_weights(self.model, payload, f"run {self.run_dir}", self.config.task)
        try:
            self.ppo.load_optimizer(payload["optimizer"])
            self.iteration, self.env_steps = int(payload["iteration"]), int(payload["env_steps"])
            self.best, self.wall_offset = payload.get("best"), float(payload.get("wall_time", 0.0))
            stats = payload.get("planner_stats") or {}
            self.stats_offset = dict(stats) if isinstance(stats, dict) else {}
            set_rng_state(payload["rng"])
            if payload.get("schedule") is not None:  # checkpoints before --teacher_schedule have none: the clock
                self.schedule.load_state_dict(payload["schedule"])
            if self.ppo.trust is not None and payload.get("text_trust") is not None:  # forked from another filter
                self.ppo.trust.load_state_dict(payload["text_trust"])
            env_state = payload["envs"]
            if not all(len(v) == self.config.num_envs for v in env_state.values()):
                raise ValueError(f"environment states for {self.config.num_envs} envs expected")
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as e:
            raise UserError(f"checkpoint does not fit this run ({type(e).__name__}: {str(e)[:120]})") from None
        if self.iteration < 0 or self.env_steps < 0:
            raise UserError("checkpoint has a negative iteration or step count")
        self.pool.set_state(env_state)

    def wall_time(self):
        return self.wall_offset + (time.time() - self.t_start if hasattr(self, "t_start") else 0.0)

    def resume_hint(self):
        """How to continue this run from its newest checkpoint (one clause)."""
        if self.saved_iteration is None:
            return "no checkpoint was written"
        return f"continue from iteration {self.saved_iteration} with: python main.py train --resume {self.run_dir}"

    def finished(self):
        return budget_reached(self.config, self.iteration, self.env_steps)

    # -- evaluation --------------------------------------------------------------------------------------------
    def evaluate(self):
        c = self.config
        seeds = eval_seeds(c.env_seed_list[0], c.num_eval)
        if self.eval_pool is None:
            self.eval_pool = eval_pool(self.spec.task["env_id"], seeds, self.spec, False, c.frame_stack)
        self.model.eval()
        result = summarise(run_episodes(self.eval_pool, student_chooser(self.model, self.device), seeds))
        eval_round = self.iteration // c.eval_interval  # derived, so a resumed run records the same videos
        if c.video > 0 and c.video_every > 0 and eval_round % c.video_every == 1 % c.video_every:
            folder = os.path.join(self.run_dir, "videos")
            record_video(os.path.join(folder, f"itr{self.iteration:06d}.gif"), self.spec.task["env_id"],
                         seeds[:c.video], self.spec, False, c.frame_stack,
                         lambda seed: student_chooser(self.model, self.device))
            prune_videos(folder, c.max_videos)
        self.model.train()
        return result

    def evaluate_teacher(self):
        """The teacher alone on the periodic evaluation's episodes (the evidence of the success schedules); one that
        succeeds in none is measured on the next num_eval episodes too, up to teacher_eval_max in all, before it
        counts as never succeeding; every teacher on at least teacher_eval_min."""
        c = self.config
        choose = teacher_chooser(np.random.default_rng(c.seed))
        self.eval_pool.set_teacher(True)
        try:
            return summarise(until_a_success(lambda seeds: run_episodes(self.eval_pool, choose, seeds),
                                             c.env_seed_list[0], c.num_eval, c.teacher_eval_max,
                                             c.teacher_eval_min))
        finally:
            self.eval_pool.set_teacher(False)

    # -- the loop ----------------------------------------------------------------------------------------------
    def train(self):
        """Train up to n_itr / max_env_steps; returns None, or the name of what stopped it early (a signal, after
        checkpointing). A second signal raises Interrupted; a dead worker raises WorkerError; a non-finite loss
        raises Diverged (the last good checkpoint is kept)."""
        self.t_start, self.saved_at = time.time(), time.monotonic()  # saved_at: the last latest.pt (--save_minutes)
        with StopRequest(self.stop, on_first=self.pool.interrupt_waits) as self.stop_request:
            try:
                return self._loop()
            except WorkerError:
                if self.stop_request.signum is not None:  # e.g. SIGTERM to the whole process group: the workers
                    raise Interrupted(self.stop_request.signum) from None  # died of it; stopping was asked anyway
                raise
            except OSError as e:  # full disk, lost folder, ... while writing videos or logs
                raise UserError(f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}") from None

    def _loop(self):
        c = self.config
        teacher_on = None
        if self.iteration == 0 and self.schedule.needs_teacher_success():  # what the teacher is worth, first
            student = self.evaluate()  # first: it opens the evaluation envs
            teacher = self.evaluate_teacher()
            self.schedule.update(0, 0, Evidence(student_success=student["success"], teacher_success=teacher["success"],
                                                teacher_length=teacher["length"],
                                                teacher_episodes=teacher["episodes"]))
        while not self.finished():
            torch.set_num_threads(self.share.threads())
            coef = self.schedule.coef(self.iteration, self.env_steps)
            lr = learning_rate(c, self.iteration, self.env_steps)
            if teacher_on != (coef > 0):
                teacher_on = coef > 0
                self.pool.set_teacher(teacher_on)
                self.storage.carry = None  # the next iteration starts fresh episodes, taught or not throughout
            t0 = time.time()
            # with a live LLM, a stop request may cut the collection short: keep what a checkpoint needs
            snapshot = (rng_state(), self.pool.get_state()) if self.spec.config.uses_llm() else None
            try:
                batch, episodes = collect(self.model, self.pool, self.storage, self.device, c,
                                          rollin_horizon=self.schedule.rollin_horizon() if teacher_on else 0)
            except WaitInterrupted:
                self.save("latest", snapshot)  # the state after the previous iteration, exactly
                self.logger.flush()
                return self.stop_request.requested or "SIGINT"
            t1 = time.time()
            try:
                losses = self.ppo.update(batch, coef, lr)
            except Diverged as e:
                raise Diverged(f"training diverged at iteration {self.iteration + 1}: {e}; "
                               f"{self.resume_hint()} (try a smaller --lr)") from None
            t2 = time.time()
            steps = int(batch["action"].numel())
            self.env_steps += steps
            self.iteration += 1
            metrics, improved, evidence = self._metrics(episodes, losses, coef, lr, steps, t0, t1, t2)
            if coef > 0:  # the share of this iteration's samples that had the teacher's distribution
                metrics["Teacher/Taught Share"] = float((batch["teacher"].sum(-1) > 0.5).float().mean())
            if self.schedule.rolls_in:  # the share of this iteration's steps the teacher acted
                metrics["Train/Guided Share"] = float(batch["guided"].float().mean())
            self.schedule.update(self.iteration, self.env_steps, evidence)
            metrics.update(self.schedule.metrics())
            self.logger.log(self.iteration, self.env_steps, self.wall_time(), metrics)
            if improved:
                self.save("best")  # after the row: a checkpoint holds the metrics up to its iteration
            if self.progress is not None:
                self.progress.update(self.iteration, self.env_steps, metrics.get("charts/SPS"),
                                     metrics.get("Train/Success Rate"), metrics.get("Test/Success Rate"), coef,
                                     # a live LLM teacher's state for the progress line (None without one)
                                     progress_state(self.pool.planner_stats(), metrics.get("Teacher/Taught Share"))
                                     if self.spec.config.uses_llm() else None)
            if (c.save_interval > 0 and self.iteration % c.save_interval == 0) or \
                    (c.save_minutes > 0 and time.monotonic() - self.saved_at >= 60 * c.save_minutes):
                self.save("latest")
            if self.stop_request.poll():
                break
        stopped = None if self.finished() else self.stop_request.poll()
        if self.saved_iteration != self.iteration:
            self.save("latest")
        self.logger.flush()
        return stopped

    def _metrics(self, episodes, losses, coef, lr, steps, t0, t1, t2):
        # the episode figures only when an episode ended (with --rollout_steps an iteration may end none), and
        # only the student's own: episodes that began with a teacher roll-in are counted apart
        guided = [e for e in episodes if e[3]]
        episodes = [e for e in episodes if not e[3]]
        returns = np.array([e[0] for e in episodes])
        metrics = {
            "Train/Return Mean": float(returns.mean()) if episodes else None,
            "Train/Return Std": float(returns.std()) if episodes else None,
            "Train/Eplen": float(np.mean([e[1] for e in episodes])) if episodes else None,
            "Train/Success Rate": float(np.mean([e[2] for e in episodes])) if episodes else None,
            "Train/Episodes": len(episodes),
            "Train/Loss": losses.get("loss"), "Train/Mean Entropy": losses.get("entropy"),
            "Train/Kickstarting Loss": losses.get("teacher"), "Train/Policy Loss": losses.get("policy"),
            "Train/Value Loss": losses.get("value"), "Train/Kickstarting Coef": coef,
            "Train/Teacher KL": losses.get("teacher_kl") if coef > 0 else None,
            "Train/Approx KL": losses.get("approx_kl"), "Train/Clip Fraction": losses.get("clipfrac"),
            "Train/Learning Rate": lr,
            "charts/SPS": steps / max(t2 - t0, 1e-9), "charts/collect_SPS": steps / max(t1 - t0, 1e-9),
            "charts/update_seconds": t2 - t1,
        }
        if guided:  # how the student does from where its teacher's roll-ins left it
            metrics.update({"Train/Guided Episodes": len(guided),
                            "Train/Guided Success Rate": float(np.mean([e[2] for e in guided]))})
        c, improved = self.config, False
        if c.teacher_filter != "none" and coef > 0:
            metrics["Teacher/Imitated Share"] = losses.get("imitated")
            if self.ppo.trust is not None:
                metrics.update(self.ppo.trust.metrics())
        evidence = Evidence(kl=losses.get("teacher_kl") if coef > 0 else None)
        if c.eval_interval > 0 and self.iteration % c.eval_interval == 0:
            ev = self.last_eval = self.evaluate()
            evidence.student_success = ev["success"]
            if self.schedule.needs_teacher_success():
                teacher = self.evaluate_teacher()
                evidence.teacher_success, evidence.teacher_length = teacher["success"], teacher["length"]
                evidence.teacher_episodes = teacher["episodes"]
            metrics.update({"Test/Return": ev["return"], "Test/Eplen": ev["length"], "Test/Success Rate": ev["success"]})
            if self.best is None or (ev["success"], ev["return"]) > tuple(self.best):
                self.best, improved = [ev["success"], ev["return"]], True
        if self.iteration % max(1, c.eval_interval) == 0:
            metrics.update({stat_tag(k): v for k, v in self.planner_stats().items()})
        return metrics, improved, evidence

    def close(self, abort=False):
        """Release envs, workers, logs and the CPU share; abort=True after an error or a second Ctrl-C."""
        for name in ("pool", "eval_pool"):
            pool = getattr(self, name)
            setattr(self, name, None)
            if pool is not None:
                pool.close(abort=abort)
        for name in ("logger", "share"):
            part = getattr(self, name)
            if part is not None:
                part.close()
