"""N environments, each with its teacher next to it, stepped together.

`EnvGroup` steps a list of envs in this process and writes into flat numpy arrays; `ParallelEnvs` splits the N
envs over worker processes, each running an EnvGroup on its slice that writes straight into shared memory, so
a step costs one small pipe message per worker. Both give identical results for the same seeds.
Every `reset_all()` starts fresh episodes (each PPO iteration does, as in the official collection loop).
"""
import multiprocessing as mp
import os
import signal
from multiprocessing import shared_memory

import numpy as np

N_ACTIONS = 7


class TeacherSpec:
    """Everything a worker needs to build its planner and teachers (picklable)."""

    def __init__(self, task_cfg, planner_args=None, task_log_dir=None, soft=False, goto_through_lava=True):
        self.task_cfg, self.planner_args, self.task_log_dir = task_cfg, planner_args, task_log_dir
        self.soft, self.goto_through_lava = soft, goto_through_lava

    def build_planner(self):
        if self.planner_args is None:
            from planner.base import RecordedPlanner
            from utils.tasks import load_recorded_answers
            return RecordedPlanner(load_recorded_answers(self.task_cfg))
        from planner.factory import build_planner
        return build_planner(self.planner_args, self.task_cfg, self.task_log_dir)


def make_arrays(n, obs_shape, buffer=None):
    """The per-step outputs of n envs as named numpy arrays (optionally views into one shared buffer)."""
    layout = [("obs", (n,) + tuple(obs_shape), np.uint8), ("final_obs", (n,) + tuple(obs_shape), np.uint8),
              ("teacher", (n, N_ACTIONS), np.float32), ("reward", (n,), np.float32),
              ("terminated", (n,), np.bool_), ("truncated", (n,), np.bool_),
              ("ep_return", (n,), np.float32), ("ep_length", (n,), np.int32), ("ep_success", (n,), np.bool_)]
    size = sum(int(np.prod(s)) * np.dtype(t).itemsize for _, s, t in layout)
    if buffer is None:
        buffer = bytearray(size)
    arrays, offset = {}, 0
    for name, shape, dtype in layout:
        count = int(np.prod(shape))
        arrays[name] = np.ndarray(shape, dtype=dtype, buffer=buffer, offset=offset)
        offset += count * np.dtype(dtype).itemsize
    return arrays, size


def stacked_shape(obs_shape, frame_stack):
    w, h, c = obs_shape
    return (w, h, c * frame_stack)


class EnvGroup:
    """Envs + teachers in this process. With frame_stack k the observation holds the last k memory maps
    along the channel axis (oldest first); the teacher always reads the newest."""

    def __init__(self, env_id, env_seeds, teacher_seeds, spec, arrays=None, env_kwargs=None, frame_stack=1):
        import env as env_pkg
        from teacher.policy import TeacherPolicy
        self.envs = [env_pkg.make_env(env_id, **(env_kwargs or {})) for _ in env_seeds]
        self.frame_channels = self.envs[0].observation_space.shape[-1]
        self.frame_stack = frame_stack
        self.obs_shape = stacked_shape(self.envs[0].observation_space.shape, frame_stack)
        self.arrays = arrays if arrays is not None else make_arrays(len(self.envs), self.obs_shape)[0]
        self.planner = spec.build_planner()
        self.teachers = [TeacherPolicy(self.planner, spec.task_cfg["object_names"], soft=spec.soft,
                                       rng=np.random.default_rng(s), goto_through_lava=spec.goto_through_lava)
                         for s in teacher_seeds]
        self.seeds = list(env_seeds)
        self.first_seeds = list(env_seeds)
        self.use_teacher = True
        self.returns = np.zeros(len(self.envs), dtype=np.float64)
        self.lengths = np.zeros(len(self.envs), dtype=np.int64)

    def _teach(self, i, obs):
        if self.use_teacher:
            e = self.envs[i]
            self.arrays["teacher"][i] = self.teachers[i](obs, (e.agent_pos[0], e.agent_pos[1], e.agent_dir))
        else:
            self.arrays["teacher"][i] = 0.0

    def _reset(self, i):
        seed, self.first_seeds[i] = self.first_seeds[i], None
        obs, _ = self.envs[i].reset(seed=seed)
        self.teachers[i].reset()
        self.returns[i] = self.lengths[i] = 0
        if self.frame_stack == 1:
            self.arrays["obs"][i] = obs
        else:
            self.arrays["obs"][i] = np.tile(obs, (1, 1, self.frame_stack))
        self._teach(i, obs)

    def _push(self, out, i, obs):
        """Write obs as the newest frame of out[i] (the plain observation when not stacking)."""
        if self.frame_stack == 1:
            out[i] = obs
        else:
            c = self.frame_channels
            out[i, :, :, :-c] = self.arrays["obs"][i, :, :, c:]
            out[i, :, :, -c:] = obs

    def reset_all(self):
        for i in range(len(self.envs)):
            self._reset(i)

    def step(self, actions):
        a = self.arrays
        for i, (env, action) in enumerate(zip(self.envs, actions)):
            obs, reward, terminated, truncated, info = env.step(int(action))
            self.returns[i] += reward
            self.lengths[i] += 1
            a["reward"][i], a["terminated"][i], a["truncated"][i] = reward, terminated, truncated
            if terminated or truncated:
                self._push(a["final_obs"], i, obs)
                a["ep_return"][i], a["ep_length"][i] = self.returns[i], self.lengths[i]
                a["ep_success"][i] = bool(terminated and reward > 0)
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
                "first_seeds": list(self.first_seeds)}

    def set_state(self, state):
        for e, s in zip(self.envs, state["env"]):
            if e._np_random is None:
                e.reset(seed=0)
            e.np_random.bit_generator.state = s
        for t, s in zip(self.teachers, state["teacher"]):
            t.rng.bit_generator.state = s
        self.first_seeds = list(state["first_seeds"])

    def planner_stats(self):
        return self.planner.stats()

    def close(self):
        self.planner.close()


def _dispatch(group, cmd, data):
    """Run one command from the parent on this worker's EnvGroup; returns the reply value."""
    if cmd == "step":
        return group.step(data)
    if cmd == "reset":
        return group.reset_all()
    if cmd == "teacher":
        return group.set_teacher(data)
    if cmd == "get_state":
        return group.get_state()
    if cmd == "set_state":
        return group.set_state(data)
    if cmd == "stats":
        return group.planner_stats()
    if cmd == "close":
        return group.close()
    raise ValueError(f"unknown command {cmd!r}")


def _worker(conn, shm_name, n_total, start, stop, env_id, env_seeds, teacher_seeds, spec, env_kwargs, frame_stack):
    os.environ["OMP_NUM_THREADS"] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (it checkpoints first)
    shm = shared_memory.SharedMemory(name=shm_name)
    try:
        obs_shape = None
        group = None
        while True:
            cmd, data = conn.recv()
            if group is None:  # first command: build (errors reported back, not raised in the child)
                try:
                    import env as env_pkg
                    obs_shape = env_pkg.make_env(env_id, **(env_kwargs or {})).observation_space.shape
                    full, _ = make_arrays(n_total, stacked_shape(obs_shape, frame_stack), shm.buf)
                    view = {k: v[start:stop] for k, v in full.items()}
                    group = EnvGroup(env_id, env_seeds, teacher_seeds, spec, view, env_kwargs, frame_stack)
                except Exception as e:  # noqa: BLE001 - sent to the parent as a message
                    conn.send(("error", f"environment worker failed: {type(e).__name__}: {e}"))
                    return
            try:
                reply = _dispatch(group, cmd, data)
            except Exception as e:  # noqa: BLE001 - reported to the parent as one line, then the worker ends
                from utils.errors import UserError
                conn.send(("error", str(e)) if isinstance(e, UserError) else ("crash", f"{type(e).__name__}: {e}"))
                return
            conn.send(("ok", reply))
            if cmd == "close":
                return
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        del group
        shm.close()


class ParallelEnvs:
    """N envs split over `workers` processes (workers=0: all in this process)."""

    def __init__(self, env_id, n, seed, spec, workers=0, env_kwargs=None, frame_stack=1):
        self.n = n
        env_seeds = [seed * 100_003 + i for i in range(n)]
        teacher_seeds = [[seed, i] for i in range(n)]
        import env as env_pkg
        self.obs_shape = stacked_shape(env_pkg.make_env(env_id, **(env_kwargs or {})).observation_space.shape,
                                       frame_stack)
        self.workers = min(workers, n)
        if self.workers <= 0:
            self.group = EnvGroup(env_id, env_seeds, teacher_seeds, spec, env_kwargs=env_kwargs,
                                  frame_stack=frame_stack)
            self.arrays = self.group.arrays
            return
        _, size = make_arrays(n, self.obs_shape)
        self.shm = shared_memory.SharedMemory(create=True, size=size)
        self.arrays, _ = make_arrays(n, self.obs_shape, self.shm.buf)
        ctx = mp.get_context("spawn")
        bounds = np.linspace(0, n, self.workers + 1).astype(int)
        self.slices = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        self.conns, self.procs = [], []
        for a, b in self.slices:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, daemon=True, args=(
                child, self.shm.name, n, a, b, env_id, env_seeds[a:b], teacher_seeds[a:b], spec, env_kwargs,
                frame_stack))
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def _all(self, cmd, datas=None):
        for i, conn in enumerate(self.conns):
            conn.send((cmd, None if datas is None else datas[i]))
        out = []
        for conn in self.conns:
            try:
                status, value = conn.recv()
            except EOFError:
                raise RuntimeError("an environment worker process died") from None
            if status == "error":
                from utils.errors import UserError
                raise UserError(value)
            if status == "crash":
                from utils.run import WorkerError
                raise WorkerError(f"environment worker crashed: {value}")
            out.append(value)
        return out

    def reset_all(self):
        if self.workers <= 0:
            return self.group.reset_all()
        self._all("reset")

    def step(self, actions):
        if self.workers <= 0:
            return self.group.step(actions)
        self._all("step", [actions[a:b] for a, b in self.slices])

    def set_teacher(self, enabled):
        if self.workers <= 0:
            return self.group.set_teacher(enabled)
        self._all("teacher", [enabled] * self.workers)

    def get_state(self):
        if self.workers <= 0:
            return self.group.get_state()
        parts = self._all("get_state")
        return {k: sum((p[k] for p in parts), []) for k in parts[0]}

    def set_state(self, state):
        if self.workers <= 0:
            return self.group.set_state(state)
        self._all("set_state", [{k: v[a:b] for k, v in state.items()} for a, b in self.slices])

    def planner_stats(self):
        if self.workers <= 0:
            return self.group.planner_stats()
        from planner.llm_planner import merge_stats
        return merge_stats(self._all("stats"))

    def close(self):
        if self.workers <= 0:
            self.group.close()
            return
        try:
            self._all("close")
        except Exception:  # noqa: BLE001 - closing must not mask the original error
            pass
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
        self.shm.close()
        self.shm.unlink()
