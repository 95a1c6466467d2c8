"""The training loop of one run, as CleanRL's: collect, update, then evaluate / log / checkpoint
(algos/run/run_loop.py, shared with the SB3 trainer); the teacher schedule is fed once per iteration.

    trainer = Trainer(config, run_dir, spec, device, progress, resume=payload)
    stopped_by = trainer.train()      # None, or the signal after which it stopped (checkpoint written)
"""
import dataclasses
import os
import time

import numpy as np
import torch

from algos.learner.ppo import PPO, learning_rate
from algos.learner.rollin import METRICS as ROLLIN_METRICS, rollin_metrics, split_episodes
from algos.learner.rollout import Rollout, collect
from algos.learner.schedule import Evidence, make_schedule
from algos.learner.teacher_term import taught_mask
from algos.run.checkpoint import build_task_model, load_weights, rng_state, seed_everything, set_rng_state
from algos.run.episodes import (eval_pool, eval_seeds, record_video, run_episodes, student_chooser, summarise,
                                teacher_chooser, training_seeds, until_settled)
from algos.run.run_loop import RunLoop
from algos.run.stop_request import StopRequest
from algos.run.warm_start import saved_demonstrations, warm_start
from algos.vec_env.env_pool import EnvPool
from planner.live.stats import merge_stats, progress_state, stat_tag
from utils.checkpoint_file import save_checkpoint
from utils.cpu_share import CpuShare
from utils.errors import Diverged, Interrupted, UserError, WorkerError
from utils.interrupt import WaitInterrupted
from utils.logger import RunLogger
from utils.video import prune_videos

WORKER_LOG = "workers.log"  # what worker processes print (stderr), in the run folder


class Trainer(RunLoop):
    def __init__(self, config, run_dir, spec, device, progress=None, resume=None, stop=None):
        super().__init__(config, run_dir, progress)
        self.spec, self.device, self.stop = spec, device, stop
        self.pool = self.eval_pool = self.share = None
        self.stats_offset = {}
        self.stop_request = None
        seed_everything(config.seed)
        try:
            n, seed = config.num_envs, config.seed
            # training's teacher never waits for a live LLM (--llm_wait never) and is sighted if --sighted_teacher
            train_spec = dataclasses.replace(spec, nonblocking=True, sighted=config.sighted_teacher)
            self.pool = EnvPool(spec.task["env_id"], training_seeds(seed, n), [[seed, i] for i in range(n)],
                                train_spec, workers=config.workers, frame_stack=config.frame_stack,
                                worker_log=os.path.join(run_dir, WORKER_LOG),
                                count_bonus=config.count_bonus, mission_mark=config.mission_mark)
            self.model = build_task_model(config, spec.task["env_id"], self.pool.obs_shape, device)
            self.ppo = PPO(self.model, config)
            self.storage = Rollout(n, self.pool.obs_shape, n_actions=self.pool.n_actions)
            self.schedule = make_schedule(config, spec.task.get("score", "success"))
            if resume is not None:
                self._restore(resume)
                if config.clone_replay and self.env_steps:
                    self.ppo.demos = saved_demonstrations(run_dir, config, self.pool.obs_shape, self.pool.n_actions)
                self.saved_iteration = self.iteration
            tags = list(self.schedule.metrics()) + [stat_tag(k) for k in self.pool.planner_stats()] + \
                (["Teacher/Imitated Share"] if self.ppo.teacher_term.filters else []) + \
                (list(ROLLIN_METRICS) if self.schedule.rolls_in else []) + \
                (["Train/Demonstration Loss"] if config.clone_replay else [])
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
            self.ppo.optimizer.load_state_dict(payload["optimizer"])
            self.iteration, self.env_steps = int(payload["iteration"]), int(payload["env_steps"])
            self.best, self.wall_offset = payload.get("best"), float(payload.get("wall_time", 0.0))
            stats = payload.get("planner_stats") or {}
            self.stats_offset = dict(stats) if isinstance(stats, dict) else {}
            set_rng_state(payload["rng"])
            self.schedule.load_state_dict(payload["schedule"])
            env_state = payload["envs"]
            if not all(len(v) == self.config.num_envs for v in env_state.values()):
                raise ValueError(f"environment states for {self.config.num_envs} envs expected")
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as e:
            raise UserError(f"checkpoint does not fit this run ({type(e).__name__}: {str(e)[:120]})") from None
        if self.iteration < 0 or self.env_steps < 0:
            raise UserError("checkpoint has a negative iteration or step count")
        self.pool.set_state(env_state)

    # -- evaluation --------------------------------------------------------------------------------------------
    def _eval_pool(self):
        if self.eval_pool is None:
            c = self.config
            self.eval_pool = eval_pool(self.spec.task["env_id"], eval_seeds(c.env_seed_list[0], c.num_eval),
                                       self.spec, False, c.frame_stack, c.mission_mark)
        return self.eval_pool

    def evaluate_student(self, seeds):
        """The student on the evaluation episodes -> [(return, length, success)], and a video when one is due."""
        c = self.config
        pool = self._eval_pool()
        self.model.eval()
        try:
            results = run_episodes(pool, student_chooser(self.model, self.device), seeds)
            eval_round = self.iteration // max(1, c.eval_interval)  # derived: a resumed run records the same videos
            if c.video > 0 and c.video_every > 0 and eval_round % c.video_every == 1 % c.video_every:
                folder = os.path.join(self.run_dir, "videos")
                record_video(os.path.join(folder, f"itr{self.iteration:06d}.gif"), self.spec.task["env_id"],
                             seeds[:c.video], self.spec, False, c.frame_stack,
                             lambda seed: student_chooser(self.model, self.device), mission_mark=c.mission_mark)
                prune_videos(folder, c.max_videos)
        finally:
            self.model.train()
        return results

    def evaluate_teacher(self):
        """The teacher alone on the periodic evaluation's episodes (the evidence of the adaptive schedule); one that
        fails any is measured on the next num_eval episodes too, up to teacher_eval_max in all (so a teacher that
        never succeeds, or succeeds only sometimes, is measured on more than ten); every teacher on at least
        teacher_eval_min. A stop request ends it between batches of episodes (None: stopped before any)."""
        c = self.config
        choose = teacher_chooser(np.random.default_rng(c.seed))
        pool = self._eval_pool()
        pool.set_teacher(True)
        try:
            results = until_settled(lambda seeds: run_episodes(pool, choose, seeds), c.env_seed_list[0],
                                    c.num_eval, c.teacher_eval_max, c.teacher_eval_min, stop=self.stop_request.poll)
        finally:
            pool.set_teacher(False)
        return summarise(results) if results else None

    def first_evidence(self):
        """Before the first iteration of a run (or of a fork to a schedule that reads evidence), what the schedule
        needs: the teacher alone and the student on the evaluation episodes (None when it needs nothing, or when a
        stop request ended the measurement: nothing of it is kept, a resumed run measures again)."""
        if not self.schedule.needs_teacher_score():
            return None
        c = self.config
        stopped = self.stop_request.poll
        student = None if stopped() else summarise(self.evaluate_student(eval_seeds(c.env_seed_list[0], c.num_eval)))
        teacher = None if stopped() else self.evaluate_teacher()
        if stopped():
            return None
        score = self.schedule.score
        return Evidence(student_score=student[score], teacher_score=teacher[score],
                        teacher_length=teacher["length"], teacher_episodes=teacher["episodes"])

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
        first = c.clone_steps and self.env_steps == 0  # a fresh run's warm start (a resumed one has env steps)
        if first or self.schedule.needs_teacher_score():  # before the first iteration: a stop request ends these
            snapshot, evidence = (rng_state(), self.pool.get_state()), None
            try:
                if first:
                    summary, self.ppo.demos = warm_start(self.model, c, self.spec, self.device, self.schedule.score,
                                                         self.run_dir, self.ppo.optimizer, self.progress)
                    self.env_steps += summary["steps"]
                    snapshot = (rng_state(), self.pool.get_state())
                if self.schedule.needs_teacher_score():
                    evidence = self.first_evidence()
            except WaitInterrupted:  # a stop request while the teacher waited for a live LLM
                if not self.stop_request.poll():
                    raise
            if self.stop_request.poll():  # the state before what it cut short: a resumed run does that again
                self.save("latest", snapshot)
                self.logger.flush()
                return self.stop_request.requested
            if evidence is not None:
                self.schedule.update(self.iteration, self.env_steps, evidence)
        teacher_on = None
        while not self.finished() and not self.stop_request.poll():
            torch.set_num_threads(self.share.threads())
            coef = self.schedule.coef(self.iteration, self.env_steps)
            lr = learning_rate(c, self.iteration, self.env_steps)
            if teacher_on != (coef > 0):
                teacher_on = coef > 0
                self.pool.set_teacher(teacher_on)
                self.storage.carry = None  # the next iteration starts fresh episodes, taught or not throughout
            # 1. collect (with a live LLM a stop request may cut it short: keep what a checkpoint needs)
            t0 = time.time()
            snapshot = (rng_state(), self.pool.get_state()) if self.spec.config.uses_llm() else None
            try:
                batch, episodes = collect(self.model, self.pool, self.storage, self.device, c,
                                          rollin_horizon=self.schedule.rollin_horizon() if teacher_on else 0)
            except WaitInterrupted:
                self.save("latest", snapshot)  # the state after the previous iteration, exactly
                self.logger.flush()
                return self.stop_request.requested or "SIGINT"
            # 2. update
            t1 = time.time()
            try:
                losses = self.ppo.update(batch, coef, lr)
            except Diverged as e:
                smaller = (["--count_bonus"] if c.count_bonus > 0 else []) + ["--lr"]
                raise Diverged(f"training diverged at iteration {self.iteration + 1}: {e}; "
                               f"{self.resume_hint()} (try a smaller {' or '.join(smaller)})") from None
            t2 = time.time()
            steps = int(batch["action"].numel())
            self.env_steps += steps
            self.iteration += 1
            # 3. evaluate, feed the schedule, log, checkpoint
            own, guided = split_episodes(episodes)
            metrics = self.episode_metrics(own) | self.loss_metrics(losses, coef, lr, batch) | \
                self.timing_metrics(steps, t0, t1, t2)
            if self.schedule.rolls_in:
                metrics.update(rollin_metrics(batch, guided))
            evaluation, improved = self.evaluate_if_due(metrics, self.evaluate_student)
            self.schedule.update(self.iteration, self.env_steps,
                                 Evidence(student_score=None if evaluation is None else
                                          evaluation[self.schedule.score]))
            metrics.update(self.schedule.metrics())
            if self.iteration % max(1, c.eval_interval) == 0:
                metrics.update({stat_tag(k): v for k, v in self.planner_stats().items()})
            # a live LLM teacher's state for the progress line (None without one)
            live = progress_state(self.pool.planner_stats(), metrics.get("Teacher/Taught Share")) \
                if self.spec.config.uses_llm() else None
            self.end_iteration(metrics, improved, coef, live, steps if c.rollout_steps else None)
        stopped = None if self.finished() else self.stop_request.poll()
        if self.saved_iteration != self.iteration:
            self.save("latest")
        self.logger.flush()
        return stopped

    def loss_metrics(self, losses, coef, lr, batch):
        """The update's figures, and the share of the iteration's samples that had the teacher's distribution."""
        metrics = {"Train/Loss": losses.get("loss"), "Train/Mean Entropy": losses.get("entropy"),
                   "Train/Kickstarting Loss": losses.get("teacher"), "Train/Policy Loss": losses.get("policy"),
                   "Train/Value Loss": losses.get("value"), "Train/Kickstarting Coef": coef,
                   "Train/Teacher KL": losses.get("teacher_kl") if coef > 0 else None,
                   "Train/Approx KL": losses.get("approx_kl"), "Train/Clip Fraction": losses.get("clipfrac"),
                   "Train/Learning Rate": lr}
        if coef > 0:
            metrics["Teacher/Taught Share"] = float(taught_mask(batch["teacher"]).float().mean())
            if self.ppo.teacher_term.filters:
                metrics["Teacher/Imitated Share"] = losses.get("imitated")
            if self.ppo.demos is not None:
                metrics["Train/Demonstration Loss"] = losses.get("demo")
        return metrics

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
