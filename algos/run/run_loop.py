"""What every trainer of a run shares (the project's PPO in algos/run/trainer.py, Stable-Baselines3's in
algos/run/sb3_trainer.py): the budget, the training episodes' figures, the periodic evaluation with the best so
far, and the end of an iteration (the log row, the best checkpoint, the progress line, the periodic checkpoint).

A trainer's iteration reads like CleanRL's loop: collect, update, then these steps:

    metrics = self.episode_metrics(episodes) | self.timing_metrics(steps, t0, t1, t2)
    evaluation, improved = self.evaluate_if_due(choose_episodes)
    self.end_iteration(metrics, improved, coef)
"""
import math
import time

import numpy as np

from algos.run.episodes import eval_seeds, summarise, training_seeds
from utils.errors import UserError


def budget_reached(config, iteration, env_steps):
    """Whether a run at this iteration and env-step count has its budget (--n_itr, --max_env_steps)."""
    return iteration >= config.n_itr or 0 < config.max_env_steps <= env_steps


def budget_advice(config, iteration, env_steps):
    """What to raise to train a run at this iteration and env-step count on: the budgets it has reached."""
    reached = (["--n_itr"] if iteration >= config.n_itr else []) + \
        (["--max_env_steps"] if 0 < config.max_env_steps <= env_steps else [])
    return f"pass a larger {' and '.join(reached or ['--n_itr'])}"


def budget_bound(config, iteration, env_steps, steps_per_iteration=None):
    """(the iteration that will end the run, exact?) for the progress line: --n_itr, or the one --max_env_steps ends
    it at: exact when the iterations have a fixed size (steps_per_iteration), else estimated from the mean env steps
    of the iterations so far (episode-based iterations)."""
    remaining = config.max_env_steps - env_steps
    if config.max_env_steps <= 0 or iteration <= 0 and not steps_per_iteration:
        return config.n_itr, True
    if remaining <= 0:
        return min(config.n_itr, iteration), True
    size = steps_per_iteration or env_steps / iteration
    bound = iteration + math.ceil(remaining / max(size, 1e-9))
    return (config.n_itr, True) if bound >= config.n_itr else (bound, bool(steps_per_iteration))


def check_eval_seeds(config, n_envs):
    """UserError (before a run folder is made) if the run's periodic evaluation would reuse its n_envs training
    envs' seeds: one rule for every trainer."""
    train = set(training_seeds(config.seed, n_envs))
    for env_seed in config.env_seed_list:
        if train & set(eval_seeds(env_seed, config.num_eval)):
            raise UserError(f"--env_seed_list {env_seed}: the evaluation episodes would reuse training env seeds "
                            f"{min(train)}..{max(train)}; pick evaluation seeds of 1000000 or more")


class RunLoop:
    """The shared state: config, run_dir, iteration, env_steps, best ([success, return] of the best evaluation),
    last_eval, saved_iteration (of the newest latest.pt), logger (RunLogger), progress."""

    def __init__(self, config, run_dir, progress=None):
        self.config, self.run_dir, self.progress = config, run_dir, progress
        self.iteration, self.env_steps, self.wall_offset = 0, 0, 0.0
        self.best, self.last_eval = None, None
        self.saved_iteration = None
        self.saved_at = time.monotonic()
        self.logger = None

    def finished(self):
        return budget_reached(self.config, self.iteration, self.env_steps)

    def wall_time(self):
        return self.wall_offset + (time.time() - self.t_start if hasattr(self, "t_start") else 0.0)

    def planner_stats(self):
        return {}

    @staticmethod
    def episode_metrics(episodes):
        """The training episodes' figures of an iteration ([(return, length, success), ...]; None where none
        ended: with --rollout_steps an iteration may end none)."""
        returns = np.array([e[0] for e in episodes])
        return {"Train/Return Mean": float(returns.mean()) if episodes else None,
                "Train/Return Std": float(returns.std()) if episodes else None,
                "Train/Eplen": float(np.mean([e[1] for e in episodes])) if episodes else None,
                "Train/Success Rate": float(np.mean([e[2] for e in episodes])) if episodes else None,
                "Train/Episodes": len(episodes)}

    @staticmethod
    def timing_metrics(steps, t0, t1, t2):
        """Env steps per second over the iteration (collection t0-t1, update t1-t2)."""
        return {"charts/SPS": steps / max(t2 - t0, 1e-9), "charts/collect_SPS": steps / max(t1 - t0, 1e-9),
                "charts/update_seconds": t2 - t1}

    def evaluation_due(self):
        c = self.config
        return c.eval_interval > 0 and self.iteration % c.eval_interval == 0

    def evaluate_if_due(self, metrics, run_evaluation):
        """The periodic evaluation when it is due: run_evaluation(seeds) -> [(return, length, success)] of the
        student on the evaluation episodes; its figures go into metrics. Returns (the summary or None, improved)."""
        if not self.evaluation_due():
            return None, False
        c = self.config
        ev = self.last_eval = summarise(run_evaluation(eval_seeds(c.env_seed_list[0], c.num_eval)))
        metrics.update({"Test/Return": ev["return"], "Test/Eplen": ev["length"], "Test/Success Rate": ev["success"]})
        improved = self.best is None or (ev["success"], ev["return"]) > tuple(self.best)
        if improved:
            self.best = [ev["success"], ev["return"]]
        return ev, improved

    def checkpoint_due(self):
        c = self.config
        return (c.save_interval > 0 and self.iteration % c.save_interval == 0) or \
            (c.save_minutes > 0 and time.monotonic() - self.saved_at >= 60 * c.save_minutes)

    def end_iteration(self, metrics, improved, coef, teacher_state=None, steps_per_iteration=None):
        """Log the iteration's row, save the best checkpoint if the evaluation improved (after the row: a
        checkpoint holds the metrics up to its iteration), update the progress line (with the iteration that will
        end the run: budget_bound; steps_per_iteration: the iterations' fixed size, if they have one), and save
        latest.pt when due."""
        self.logger.log(self.iteration, self.env_steps, self.wall_time(), metrics)
        if improved:
            self.save("best")
        if self.progress is not None:
            bound, exact = budget_bound(self.config, self.iteration, self.env_steps, steps_per_iteration)
            self.progress.update(self.iteration, self.env_steps, metrics.get("charts/SPS"),
                                 metrics.get("Train/Success Rate"), metrics.get("Test/Success Rate"), coef,
                                 teacher_state, total=bound, estimated=not exact)
        if self.checkpoint_due():
            self.save("latest")

    def resume_hint(self):
        """How to continue this run from its newest checkpoint (one clause)."""
        if self.saved_iteration is None:
            return "no checkpoint was written"
        return f"continue from iteration {self.saved_iteration} with: python main.py train --resume {self.run_dir}"

    def save(self, name="latest"):
        raise NotImplementedError
