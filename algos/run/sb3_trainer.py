"""--policy sb3_ppo: Stable-Baselines3's PPO with RL Baselines3 Zoo's MiniGrid hyperparameters, the widely used tuned
PPO that the project's plain-PPO rows are compared with. No teacher and no planner.

`Sb3Trainer` has the Trainer's interface, so algos/run/train.py makes, locks and cleans up its run folder like any
other: config.json, metrics.csv and TensorBoard (utils.logger, the same columns where they apply), a held-out
evaluation every --eval_interval iterations (an iteration: one rollout of n_steps x n_envs steps and its update).
checkpoints/<name>.zip is SB3's model file and <name>_vecnormalize.pkl its VecNormalize statistics (both as SB3 and
the zoo load them); <name>.pt is the project's index of the pair (settings, iteration, env steps, metrics so far),
which `main.py eval`, a sweep's final evaluation and --resume find. latest.* is written as the project's PPO writes
latest.pt (every --save_interval iterations or --save_minutes, on a stop request, at the budget; best.* whenever
evaluation improves), so a stopped run resumes (--resume, a larger --max_env_steps too): the model with its Adam
state, the observation and return statistics, the counters and the metrics so far; its envs start new episodes
(seeded apart from the run's first ones), as SB3's own reloaded models do. A finished run is never trained again.
"""
import functools
import os
import pickle
import time

import gymnasium
import numpy as np
import torch

from algos.run.checkpoint import rng_state, set_rng_state
from algos.run.episodes import training_seeds
from algos.run.run_loop import RunLoop, check_eval_seeds
from algos.run.stop_request import StopRequest
from env import episode_success, make_env, observation_kind
from utils.atomic import atomic_write
from utils.checkpoint_file import save_checkpoint
from utils.cpu_share import CpuShare
from utils.errors import UserError
from utils.logger import RunLogger

# rl-baselines3-zoo hyperparams/ppo.yml, its MiniGrid entries (&minigrid-defaults, e.g. MiniGrid-DoorKey-5x5-v0);
# "normalize: true" is the VecNormalize below (with this gamma)
ZOO_PPO = {"policy": "MlpPolicy", "n_envs": 8, "n_steps": 128, "batch_size": 64, "gae_lambda": 0.95, "gamma": 0.99,
           "n_epochs": 10, "ent_coef": 0.0, "learning_rate": 2.5e-4, "clip_range": 0.2}
EVAL_CHUNK = 256             # evaluation envs stepped together
EVAL_CHUNK_PIXELS = 8        # (rendered worlds: each env holds a GL context)


def pixels(env_id):
    """Whether the task's observation is an image (MiniWorld): SB3's CnnPolicy over it, no observation scaling."""
    return observation_kind(env_id) == "pixels"


def sb3_env(env_id, obs):
    """One training or evaluation env, wrapped for SB3: `obs` memory (env.make_env's (W, H, 4) memory map, flattened;
    a MiniWorld room's RGB image as it is) or egocentric (minigrid's FlatObsWrapper over gymnasium.make(env_id), as
    the zoo wraps MiniGrid)."""
    from stable_baselines3.common.monitor import Monitor
    if pixels(env_id):
        return Monitor(make_env(env_id))
    if obs == "egocentric":
        from minigrid.wrappers import FlatObsWrapper
        return Monitor(FlatObsWrapper(gymnasium.make(env_id)))
    return Monitor(gymnasium.wrappers.FlattenObservation(make_env(env_id)))


def first_reset_seed(seed, iteration, n):
    """Env 0's seed for the first reset of a run's n envs (env i's: that + i): a fresh run's training_seeds; a run
    resumed at iteration > 0 those of another seed, so its envs do not replay the run's first episodes."""
    return training_seeds(seed + 1_000_003 * iteration, n)[0]


def check(config, task):
    """One UserError line for a run that cannot start (before its folder is made)."""
    if config.sb3_obs == "egocentric":
        try:
            space = gymnasium.make(task["env_id"]).observation_space
        except gymnasium.error.Error as e:
            raise UserError(f"--sb3_obs egocentric: gymnasium cannot make {task['env_id']} ({e})") from None
        if not isinstance(space, gymnasium.spaces.Dict) or "image" not in space.spaces:
            raise UserError(f"--sb3_obs egocentric: task {task['name']} ({task['env_id']}) has no minigrid "
                            f"egocentric view (the project's tasks are observed through the memory map): use "
                            f"--sb3_obs memory, or a MiniGrid id such as MiniGrid-DoorKey-5x5-v0")
    check_eval_seeds(config, ZOO_PPO["n_envs"])


def load_pair(path, task, obs, n_envs, device, train):
    """(SB3 model, VecNormalize over n_envs fresh envs) of checkpoint index `path` (<name>.pt): <name>.zip and
    <name>_vecnormalize.pkl beside it; `train`: the model is given those envs to go on training in."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
    stem = path[:-3] if path.endswith(".pt") else path
    files = (f"{stem}.zip", f"{stem}_vecnormalize.pkl")
    for file in files:
        if not os.path.isfile(file):
            raise UserError(f"{path} is an sb3_ppo checkpoint, but {file} is missing")
    venv = DummyVecEnv([functools.partial(sb3_env, task["env_id"], obs)] * n_envs)
    try:
        model = PPO.load(files[0], device=device)
        normalizer = VecNormalize.load(files[1], venv)
    except Exception as e:  # noqa: BLE001 - a damaged or foreign file, whatever its error
        venv.close()
        raise UserError(f"{path}: cannot load its SB3 model or VecNormalize statistics "
                        f"({type(e).__name__}: {str(e).strip()[:120]})") from None
    shapes = {venv.observation_space.shape, tuple(np.roll(venv.observation_space.shape, 1))}  # CHW for a CNN
    problem = None
    if model.observation_space.shape not in shapes:
        problem = (f"the model takes observations of shape {model.observation_space.shape}, task {task['name']} "
                   f"with --sb3_obs {obs} gives {venv.observation_space.shape}")
    elif train and model.n_envs != n_envs:
        problem = f"the model was trained in {model.n_envs} envs, not {n_envs}"
    if problem:
        venv.close()
        raise UserError(f"{files[0]}: {problem}")
    if train:
        model.set_env(normalizer)  # (its first learn() resets the envs)
    return model, normalizer


class Sb3Student:
    """A trained SB3 policy with its observation normalisation (frozen), playing whole evaluation episodes; actions
    are sampled (deterministic=False), as the project's student evaluation samples from its policy."""

    def __init__(self, model, normalizer, env_id, obs):
        self.model, self.normalizer, self.env_id, self.obs = model, normalizer, env_id, obs
        self.envs = []  # evaluation envs, made once and reused (a rendered world's env holds a GL context)

    @classmethod
    def load(cls, path, saved, task, device):
        """The student of checkpoint index `path` (<name>.pt): <name>.zip and <name>_vecnormalize.pkl beside it."""
        model, normalizer = load_pair(path, task, saved.sb3_obs, 1, device, train=False)
        normalizer.training, normalizer.norm_reward = False, False
        return cls(model, normalizer, task["env_id"], saved.sb3_obs)

    def episodes(self, seeds):
        """One episode per seed -> [(return, length, success)] in seed order (env.episode_success)."""
        results = []
        size = EVAL_CHUNK_PIXELS if pixels(self.env_id) else EVAL_CHUNK
        for start in range(0, len(seeds), size):
            chunk = seeds[start:start + size]
            self.envs += [sb3_env(self.env_id, self.obs) for _ in range(len(chunk) - len(self.envs))]
            envs = self.envs[:len(chunk)]
            obs = np.stack([env.reset(seed=s)[0] for env, s in zip(envs, chunk)])
            returns, lengths, done = np.zeros(len(chunk)), np.zeros(len(chunk), dtype=int), np.zeros(len(chunk), bool)
            success = np.zeros(len(chunk), bool)
            while not done.all():
                actions, _ = self.model.predict(self.normalizer.normalize_obs(obs), deterministic=False)
                for i in np.nonzero(~done)[0]:
                    obs[i], reward, terminated, truncated, _ = envs[i].step(int(actions[i]))
                    returns[i] += reward
                    lengths[i] += 1
                    done[i] = terminated or truncated
                    success[i] = episode_success(terminated, reward)
            results += [(float(r), int(n), bool(s)) for r, n, s in zip(returns, lengths, success)]
        return results

    def close(self):
        """Release the evaluation envs."""
        envs, self.envs = self.envs, []
        for env in envs:
            env.close()


def _episode_log():
    """An SB3 callback keeping each finished training episode (Monitor's return and length) and when the
    iteration's collection ended."""
    from stable_baselines3.common.callbacks import BaseCallback

    class EpisodeLog(BaseCallback):
        def __init__(self):
            super().__init__()
            self.finished, self.collected_at = [], None

        def _on_step(self):
            for info, reward in zip(self.locals["infos"], self.locals["rewards"]):
                if "episode" in info:  # (the reward normalised by its scale: its sign is the env's)
                    terminated = not info.get("TimeLimit.truncated", False)
                    self.finished.append((float(info["episode"]["r"]), int(info["episode"]["l"]),
                                          episode_success(terminated, float(reward))))
            return True

        def _on_rollout_end(self):
            self.collected_at = time.time()
    return EpisodeLog()


# SB3's training figures -> the project's metric names (entropy_loss is minus the mean entropy)
SB3_METRICS = {"train/loss": ("Train/Loss", 1), "train/entropy_loss": ("Train/Mean Entropy", -1),
               "train/policy_gradient_loss": ("Train/Policy Loss", 1), "train/value_loss": ("Train/Value Loss", 1),
               "train/approx_kl": ("Train/Approx KL", 1), "train/clip_fraction": ("Train/Clip Fraction", 1),
               "train/learning_rate": ("Train/Learning Rate", 1)}


class Sb3Trainer(RunLoop):
    """The loop of an sb3_ppo run (one SB3 `learn` call per iteration): SB3 collects and updates, the iteration's
    end (evaluation, log, checkpoint, progress) is the Trainer's (algos/run/run_loop.py)."""

    def __init__(self, config, task, run_dir, device, progress=None, stop=None, resume=None):
        """A fresh run, or (resume: its latest.pt index) the run in run_dir from its latest checkpoint."""
        from stable_baselines3 import PPO
        from stable_baselines3.common.logger import Logger
        from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
        super().__init__(config, run_dir, progress)
        self.stop = stop
        self.venv = self.share = self.student = None
        n = ZOO_PPO["n_envs"]
        try:
            if resume is None:
                hyper = {k: v for k, v in ZOO_PPO.items() if k != "n_envs"}
                image = pixels(task["env_id"])
                if image:  # the zoo's settings with SB3's CNN (NatureCNN, as the project's pixel student)
                    hyper["policy"] = "CnnPolicy"
                envs = [functools.partial(sb3_env, task["env_id"], config.sb3_obs)] * n
                self.venv = VecNormalize(DummyVecEnv(envs), gamma=ZOO_PPO["gamma"], norm_obs=not image)
                self.model = PPO(env=self.venv, seed=config.seed, device=device, verbose=0, **hyper)
            else:
                self.model, self.venv = load_pair(os.path.join(run_dir, "checkpoints", "latest.pt"), task,
                                                  config.sb3_obs, n, device, train=True)
                self._restore(resume)
            self.model.set_logger(Logger(None, []))  # its figures are read after each iteration, not printed
            self.venv.seed(first_reset_seed(config.seed, self.iteration, n))  # env i's first reset: that + i
            self.student = Sb3Student(self.model, self.venv, task["env_id"], config.sb3_obs)
            self.log = _episode_log()
            self.logger = RunLogger(run_dir, resume_iteration=self.iteration if resume is not None else None,
                                    hyperparameters={**config.public(), **{f"sb3.{k}": v for k, v in ZOO_PPO.items()}},
                                    history=resume.get("metrics_csv") if resume is not None else None)
            self.share = CpuShare()
        except BaseException:
            self.close(abort=True)
            raise

    def _restore(self, payload):
        """The counters, best evaluation, wall time and random generators of checkpoint index `payload`."""
        try:
            self.iteration, self.env_steps = int(payload["iteration"]), int(payload["env_steps"])
            self.best, self.wall_offset = payload.get("best"), float(payload.get("wall_time", 0.0))
            if payload.get("rng") is not None:  # (a finished run's index before resuming existed has none)
                set_rng_state(payload["rng"])
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as e:
            raise UserError(f"checkpoint does not fit this run ({type(e).__name__}: {str(e)[:120]})") from None
        if self.iteration < 0 or self.env_steps != int(self.model.num_timesteps):
            stem = os.path.join(self.run_dir, "checkpoints", "latest")
            raise UserError(f"{stem}.pt says {self.env_steps} env steps at iteration {self.iteration}, {stem}.zip "
                            f"{self.model.num_timesteps}: the files are not of one checkpoint")
        self.saved_iteration = self.iteration

    def save(self, name):
        """checkpoints/<name>.zip, <name>_vecnormalize.pkl (what VecNormalize.save writes) and the index <name>.pt."""
        stem = os.path.join(self.run_dir, "checkpoints", name)
        atomic_write(f"{stem}.zip", self.model.save, what="checkpoint")
        atomic_write(f"{stem}_vecnormalize.pkl", lambda f: pickle.dump(self.venv, f), what="checkpoint")
        save_checkpoint({"config": self.config.public(), "iteration": self.iteration, "env_steps": self.env_steps,
                         "wall_time": self.wall_time(), "best": self.best, "metrics_csv": self.logger.history(),
                         "rng": rng_state(), "obs_shape": list(self.venv.observation_space.shape),
                         "sb3": dict(ZOO_PPO)}, f"{stem}.pt")
        if name == "latest":
            self.saved_iteration, self.saved_at = self.iteration, time.monotonic()

    def train(self):
        """Train to the budget; returns None, or what stopped it early (a signal, a sweep's stop file)."""
        self.t_start = time.time()
        steps = ZOO_PPO["n_steps"] * ZOO_PPO["n_envs"]
        with StopRequest(self.stop) as request:
            while not self.finished():
                torch.set_num_threads(self.share.threads())
                self.log.finished = []
                t0 = time.time()
                self.model.learn(steps, callback=self.log, log_interval=None, reset_num_timesteps=False)
                t1 = time.time()
                self.iteration, self.env_steps = self.iteration + 1, int(self.model.num_timesteps)
                metrics = self.episode_metrics(self.log.finished) | {"Train/Kickstarting Coef": 0.0} | \
                    self.timing_metrics(steps, t0, self.log.collected_at or t1, t1) | self.sb3_metrics()
                _, improved = self.evaluate_if_due(metrics, self.student.episodes)
                self.end_iteration(metrics, improved, 0.0, steps_per_iteration=steps)
                if request.poll():
                    break
            stopped = None if self.finished() else request.poll()
        if self.iteration > 0 and self.saved_iteration != self.iteration:  # at the budget, or stopped in between
            self.save("latest")
        self.logger.flush()
        return stopped

    def sb3_metrics(self):
        """SB3's own figures of the iteration's update, under the project's tags."""
        figures = self.model.logger.name_to_value
        metrics = {tag: sign * float(figures[key]) for key, (tag, sign) in SB3_METRICS.items() if key in figures}
        self.model.logger.dump()  # (no outputs) clears them for the next iteration
        return metrics

    def close(self, abort=False):
        """Release the envs, the logs and the CPU share."""
        for name in ("student", "venv", "logger", "share"):
            part = getattr(self, name)
            setattr(self, name, None)
            if part is not None:
                part.close()
