"""Environments, each with its teacher next to it, stepped in one process; results go into flat numpy arrays
(owned here, or views into shared memory when an EnvPool worker runs the group)."""
import numpy as np

from algos.vec_env.count_bonus import EpisodicCount
from algos.vec_env.frame_stack import first_frames, push_frame, stacked_shape
from env import episode_success


def make_arrays(n, obs_shape, buffer=None, n_actions=7):
    """The per-step outputs of n envs as named numpy arrays (optionally views into one shared buffer); the teacher's
    distribution is over the world's n_actions."""
    layout = [("obs", (n,) + tuple(obs_shape), np.uint8), ("final_obs", (n,) + tuple(obs_shape), np.uint8),
              ("teacher", (n, n_actions), np.float32), ("text", (n,), np.int64), ("reward", (n,), np.float32),
              ("bonus", (n,), np.float32),
              ("terminated", (n,), np.bool_), ("truncated", (n,), np.bool_),
              ("ep_return", (n,), np.float32), ("ep_length", (n,), np.int32), ("ep_success", (n,), np.bool_)]
    size = sum(int(np.prod(s)) * np.dtype(t).itemsize for _, s, t in layout)
    if buffer is None:
        buffer = bytearray(size)
    arrays, offset = {}, 0
    for name, shape, dtype in layout:
        arrays[name] = np.ndarray(shape, dtype=dtype, buffer=buffer, offset=offset)
        offset += int(np.prod(shape)) * np.dtype(dtype).itemsize
    return arrays, size


def observation_shape(env_id, frame_stack=1, mission_mark=False):
    import env as env_pkg
    return stacked_shape(env_pkg.make_env(env_id, mission_mark=mission_mark).observation_space.shape, frame_stack)


class EnvGroup:
    """Envs + teachers in this process. With frame_stack k the observation holds the last k memory maps along the
    channel axis (oldest first); the teacher always reads the newest. Each env is reset with its seed the first
    time (later episodes continue the env's own random stream) unless `reset` is given seeds. count_bonus > 0:
    each step's exploration bonus (algos/vec_env/count_bonus.py) goes into the "bonus" array (else it stays 0).
    mission_mark: the maps carry the mission's objects (env/mission.py)."""

    def __init__(self, env_id, env_seeds, teacher_seeds, spec, arrays=None, frame_stack=1, count_bonus=0.0,
                 mission_mark=False):
        import env as env_pkg
        self.envs = [env_pkg.make_env(env_id, mission_mark=mission_mark) for _ in env_seeds]
        self.frame_stack = frame_stack
        self.obs_shape = stacked_shape(self.envs[0].observation_space.shape, frame_stack)
        self.n_actions = env_pkg.action_count(env_id)
        self.arrays = arrays if arrays is not None else \
            make_arrays(len(self.envs), self.obs_shape, n_actions=self.n_actions)[0]
        self.planner = spec.make_planner()
        self.teachers = [spec.make_teacher(self.planner, s) for s in teacher_seeds]
        self.next_seeds = list(env_seeds)  # seeds of the next resets (None: continue the env's stream)
        self.use_teacher = True
        self.returns = np.zeros(len(self.envs), dtype=np.float64)
        self.lengths = np.zeros(len(self.envs), dtype=np.int64)
        self.recorded = None  # [(frame, return so far)] per env when recording videos
        self.counts = [EpisodicCount(count_bonus, env_pkg.visit_state(env_id)) for _ in self.envs] \
            if count_bonus > 0 else None

    def _teach(self, i, obs):
        """The teacher's distribution for env i's observation; all zeros (no distribution: the sample is trained
        without the teacher term) when the teacher is off, its live LLM has not answered the text yet or a sighted
        3D teacher's skill follows what the camera does not show (--sighted_teacher); and the
        id of the observation's text (teacher.policy.text_id; 0 when the teacher is off)."""
        probs, text = None, 0
        if self.use_teacher:
            probs = self.teachers[i].teach(self.envs[i], obs)
            text = self.teachers[i].last_text_id
        self.arrays["teacher"][i] = 0.0 if probs is None else probs
        self.arrays["text"][i] = text

    def _reset(self, i):
        seed, self.next_seeds[i] = self.next_seeds[i], None
        obs, _ = self.envs[i].reset(seed=seed)
        self.teachers[i].begin(self.envs[i])
        if self.counts is not None:
            self.counts[i].reset(self.envs[i])
        self.returns[i] = self.lengths[i] = 0
        self.arrays["obs"][i] = first_frames(obs, self.frame_stack)
        self._teach(i, obs)

    def _push(self, out, i, obs):
        """Write obs as the newest frame of out[i] (the plain observation when not stacking)."""
        if self.frame_stack == 1:
            out[i] = obs
        else:
            push_frame(self.arrays["obs"][i], obs, out[i])

    def reset(self, seeds=None):
        """Fresh episodes in every env (env i with seeds[i] when given)."""
        if seeds is not None:
            self.next_seeds = list(seeds)
        for i in range(len(self.envs)):
            self._reset(i)
            self._record(i)

    def set_recording(self, enabled):
        """Keep a picture of every env after each reset and step (before an ended episode restarts)."""
        self.recorded = [None] * len(self.envs) if enabled else None

    def frames(self):
        return self.recorded

    def _record(self, i):
        if self.recorded is not None:
            import env as env_pkg
            self.recorded[i] = (env_pkg.frame(self.envs[i]), float(self.returns[i]))

    def step(self, actions):
        a = self.arrays
        for i, (env, action) in enumerate(zip(self.envs, actions)):
            obs, reward, terminated, truncated, info = env.step(int(action))
            self.returns[i] += reward
            self.lengths[i] += 1
            a["reward"][i], a["terminated"][i], a["truncated"][i] = reward, terminated, truncated
            if self.counts is not None:
                a["bonus"][i] = self.counts[i].bonus(env)
            self._record(i)
            if terminated or truncated:
                self._push(a["final_obs"], i, obs)
                a["ep_return"][i], a["ep_length"][i] = self.returns[i], self.lengths[i]
                a["ep_success"][i] = episode_success(terminated, reward)
                self._reset(i)
            else:
                self._push(a["obs"], i, obs)
                self._teach(i, obs)

    def set_teacher(self, enabled):
        self.use_teacher = bool(enabled)

    def get_state(self):
        """RNG states of every env and teacher (plain Python data), for exact resumption."""
        return {"env": [e.np_random.bit_generator.state for e in self.envs],
                "teacher": [t.rng.bit_generator.state for t in self.teachers],
                "first_seeds": list(self.next_seeds),
                "counts": [None] * len(self.envs) if self.counts is None else [c.get_state() for c in self.counts]}

    def set_state(self, state):
        for e, s in zip(self.envs, state["env"]):
            if e._np_random is None:
                e.reset(seed=0)
            e.np_random.bit_generator.state = s
        for t, s in zip(self.teachers, state["teacher"]):
            t.rng.bit_generator.state = s
        self.next_seeds = list(state["first_seeds"])
        for c, items in zip(self.counts or [], state.get("counts") or []):
            if items is not None:
                c.set_state(items)

    def planner_stats(self):
        """The planner's counters; with reduced texts also the distinct full texts taught by an answer to another
        (reduced) text: generalised_texts (distinct per process, summed over worker processes)."""
        stats = self.planner.stats()
        full = [t.full_taught for t in self.teachers if getattr(t, "full", None) is not None]
        if full:
            stats["generalised_texts"] = len(set().union(*full))
        return stats

    def close(self):
        self.planner.close()
