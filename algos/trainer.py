"""The training loop: collect -> PPO update (+ teacher term) -> log / evaluate / checkpoint, resumable."""
import os
import random
import signal
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
from utils.video import prune_videos


class StopRequest:
    """SIGINT/SIGTERM: the first asks the loop to checkpoint and stop after this iteration; a second one
    (or a signal while no run is active) stops at once."""

    def __init__(self):
        self.requested = None
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested is not None:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name
        for sig, old in self._old.items():
            signal.signal(sig, self._second)

    def _second(self, signum, frame):
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def build_model(cfg, obs_shape, device):
    return ActorCritic(obs_shape, recurrent=cfg["recurrent"]).to(device)


def rng_state():
    return {"python": random.getstate(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state):
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    def __init__(self, cfg, run_dir, spec, device, progress=None, resume=None):
        self.cfg, self.run_dir, self.device = cfg, run_dir, device
        self.spec = spec
        self.progress = progress
        random.seed(cfg["seed"])
        torch.manual_seed(cfg["seed"])
        self.envs = ParallelEnvs(cfg["env_id"], cfg["num_envs"], cfg["seed"], spec, workers=cfg["workers"],
                                 frame_stack=cfg["frame_stack"])
        self.obs_shape = self.envs.obs_shape
        self.model = build_model(cfg, self.obs_shape, device)
        self.ppo = PPO(self.model, lr=cfg["lr"], eps=cfg["adam_eps"], clip=cfg["clip"], vf_coef=cfg["vf_coef"],
                       ent_coef=cfg["ent_coef"], max_grad_norm=cfg["max_grad_norm"], epochs=cfg["epochs"],
                       minibatch=cfg["batch_size"])
        self.storage = Rollout(cfg["num_envs"], self.obs_shape)
        self.eval_group = None
        self.iteration, self.env_steps, self.wall_offset = 0, 0, 0.0
        self.best = None
        self.last_planner_stats = {}
        if resume is not None:
            self._restore(resume)
        self.logger = RunLogger(run_dir, extra_tags=cfg.get("extra_tags", ()),
                                resume_iteration=self.iteration if resume is not None else None)
        if resume is None:
            self.logger.hyperparameters(cfg)

    # -- checkpoints -------------------------------------------------------------------------------------------
    def checkpoint_payload(self):
        return {"model": self.model.state_dict(), "optimizer": self.ppo.optimizer.state_dict(),
                "iteration": self.iteration, "env_steps": self.env_steps,
                "teacher_coef": teacher_coef(self.iteration, *self._coef_args()),
                "rng": rng_state(), "envs": self.envs.get_state(), "best": self.best,
                "wall_time": self.wall_offset + (time.time() - self.t_start if hasattr(self, "t_start") else 0.0),
                "config": self.cfg, "obs_shape": list(self.obs_shape)}

    def save(self, name="latest"):
        save_atomic(self.checkpoint_payload(), os.path.join(self.run_dir, "checkpoints", f"{name}.pt"))

    def _restore(self, payload):
        if list(payload.get("obs_shape", [])) != list(self.obs_shape):
            raise UserError(f"checkpoint observation shape {payload.get('obs_shape')} does not match "
                            f"{list(self.obs_shape)} of task {self.cfg['task']}")
        self.model.load_state_dict(payload["model"])
        self.ppo.optimizer.load_state_dict(payload["optimizer"])
        self.iteration, self.env_steps = int(payload["iteration"]), int(payload["env_steps"])
        self.best, self.wall_offset = payload.get("best"), float(payload.get("wall_time", 0.0))
        set_rng_state(payload["rng"])
        self.envs.set_state(payload["envs"])

    def _coef_args(self):
        c = self.cfg
        return c["teacher_coef"], c["teacher_coef_decay"], c["teacher_coef_min"], c["teacher_off_after"]

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
        cfg = self.cfg
        self.t_start = time.time()
        teacher_on = None
        stop = None
        with StopRequest() as stop_request:
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
            self.save("latest")
        self.last_planner_stats = self.envs.planner_stats()
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
        stats = self.envs.planner_stats() if self.iteration % max(1, self.cfg["eval_interval"]) == 0 else None
        if stats:
            self.last_planner_stats = stats
            metrics["Teacher/Missing Texts"] = stats.get("missing_texts")
            for k, v in stats.items():
                if k not in ("missing_texts",):
                    metrics[f"LLM/{k}"] = v
        return metrics

    def close(self):
        self.envs.close()
        if self.eval_group is not None:
            self.eval_group.close()
        self.logger.close()


def load_for_resume(run_dir):
    path = os.path.join(run_dir, "checkpoints", "latest.pt")
    if not os.path.isdir(run_dir):
        raise UserError(f"--resume: run folder not found: {run_dir}")
    return load_checkpoint(path)
