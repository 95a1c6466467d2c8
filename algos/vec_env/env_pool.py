"""N environments with their teachers, stepped together: the one env-pool abstraction of training, evaluation
and video recording.

The envs are split into shards. A shard is an EnvGroup either in this process (workers=0) or in a worker process
that writes straight into shared memory; both kinds answer the same commands through the same two calls
(`send`, `recv`), so every pool method runs one code path, and a step costs one small pipe message per worker.
Worker and in-process pools give identical results for the same seeds.
"""
import contextlib
import multiprocessing as mp
import os
import signal
import sys
import time
from multiprocessing import shared_memory

import numpy as np

from algos.vec_env.env_group import EnvGroup, make_arrays, observation_shape
from env import action_count
from utils import interrupt
from utils.errors import UserError, WorkerError
from utils.interrupt import WaitInterrupted


# the commands a shard answers: name -> what it does on its EnvGroup (data: the command's argument, if it takes one)
COMMANDS = {
    "step": lambda group, data: group.step(data),
    "reset": lambda group, data: group.reset(data),
    "teacher": lambda group, data: group.set_teacher(data),
    "get_state": lambda group, data: group.get_state(),
    "set_state": lambda group, data: group.set_state(data),
    "stats": lambda group, data: group.planner_stats(),
    "recording": lambda group, data: group.set_recording(data),
    "frames": lambda group, data: group.frames(),
    "close": lambda group, data: group.close(),
}


def _dispatch(group, cmd, data):
    """One command on an EnvGroup; returns the reply value."""
    handler = COMMANDS.get(cmd)
    if handler is None:
        raise ValueError(f"unknown command {cmd!r}")
    return handler(group, data)


def _reply(group, cmd, data):
    """(status, value) of one command: ok, error (a UserError's one line), interrupted (a stop request cut an LLM
    wait short) or crash (anything else)."""
    try:
        return "ok", _dispatch(group, cmd, data)
    except WaitInterrupted as e:
        return "interrupted", e.signum
    except UserError as e:
        return "error", str(e)
    except Exception as e:  # noqa: BLE001 - reported to the parent as one line
        return "crash", f"{type(e).__name__}: {e}"


class LocalShard:
    """An EnvGroup in this process: `send` runs the command at once, `recv` hands over its reply."""

    def __init__(self, group):
        self.group, self._reply = group, None

    def send(self, cmd, data):
        self._reply = _reply(self.group, cmd, data)

    def recv(self):
        reply, self._reply = self._reply, None
        return reply


def _worker(conn, shm_name, n_total, start, stop, env_id, env_seeds, teacher_seeds, spec, frame_stack, count_bonus,
            mission_mark):
    os.environ["OMP_NUM_THREADS"] = "1"
    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C and SIGTERM to the process group are the parent's to
        signal.signal(sig, signal.SIG_IGN)       # handle: it checkpoints, then closes the workers
    signal.signal(signal.SIGUSR1, lambda signum, frame: interrupt.ask_stop(signal.SIGINT))  # see interrupt_waits
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})  # blocked while the parent spawned us
    shm = shared_memory.SharedMemory(name=shm_name)
    group = full = None
    try:
        full, _ = make_arrays(n_total, observation_shape(env_id, frame_stack, mission_mark), shm.buf,
                              action_count(env_id))
        try:
            group = EnvGroup(env_id, env_seeds, teacher_seeds, spec, {k: v[start:stop] for k, v in full.items()},
                             frame_stack, count_bonus, mission_mark)
        except Exception as e:  # noqa: BLE001 - the first reply says why the worker cannot run
            conn.recv()
            conn.send(("error", f"environment worker failed: {type(e).__name__}: {e}"))
            return
        while True:
            cmd, data = conn.recv()
            status, value = _reply(group, cmd, data)
            conn.send((status, value))
            if cmd == "close" or status in ("error", "crash"):
                return
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        del group, full
        shm.close()


class WorkerShard:
    """An EnvGroup in a worker process, reached over a pipe."""

    def __init__(self, ctx, args):
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, daemon=True, args=(child, *args))
        self.proc.start()
        child.close()
        self.conn = parent

    def send(self, cmd, data):
        try:
            self.conn.send((cmd, data))
        except (BrokenPipeError, OSError):
            pass  # the worker is gone: recv says so

    def recv(self):
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            return "died", None


@contextlib.contextmanager
def _spawning(log_path):
    """While worker processes start: SIGINT and SIGTERM blocked (they inherit the mask, so a signal sent to the
    process group cannot kill them while they import, before they ignore it), and their stderr pointed at
    `log_path`, so what they print (a crash's traceback) goes to that file instead of the parent's one-line errors."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGUSR1}) \
        if hasattr(signal, "pthread_sigmask") else None
    saved = log = None
    try:
        if log_path is not None:
            sys.stderr.flush()
            os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
            log, saved = open(log_path, "ab"), os.dup(2)
            os.dup2(log.fileno(), 2)
        yield
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
            log.close()
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _last_line(path):
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 4096))
            lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return None
    return lines[-1][:200] if lines else None


class EnvPool:
    """n envs (env i first reset with env_seeds[i], its teacher seeded with teacher_seeds[i]) over `workers`
    processes (0: all in this process). `arrays` holds every env's latest outputs (see env_group.make_arrays);
    count_bonus, mission_mark: see EnvGroup."""

    def __init__(self, env_id, env_seeds, teacher_seeds, spec, workers=0, frame_stack=1, worker_log=None,
                 count_bonus=0.0, mission_mark=False):
        self.n = len(env_seeds)
        self.obs_shape = observation_shape(env_id, frame_stack, mission_mark)
        self.n_actions = action_count(env_id)
        self.workers = min(workers, self.n)
        self.worker_log = worker_log if self.workers > 0 else None
        self.shm = None
        if self.workers <= 0:
            group = EnvGroup(env_id, env_seeds, teacher_seeds, spec, frame_stack=frame_stack, count_bonus=count_bonus,
                             mission_mark=mission_mark)
            self.arrays, self.slices, self.shards = group.arrays, [(0, self.n)], [LocalShard(group)]
            return
        _, size = make_arrays(self.n, self.obs_shape, n_actions=self.n_actions)
        self.shm = shared_memory.SharedMemory(create=True, size=size)
        self.arrays, _ = make_arrays(self.n, self.obs_shape, self.shm.buf, self.n_actions)
        bounds = np.linspace(0, self.n, self.workers + 1).astype(int)
        self.slices = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        ctx = mp.get_context("spawn")
        self.shards = []
        try:
            with _spawning(self.worker_log):
                for a, b in self.slices:
                    self.shards.append(WorkerShard(ctx, (self.shm.name, self.n, a, b, env_id, env_seeds[a:b],
                                                         teacher_seeds[a:b], spec, frame_stack, count_bonus,
                                                         mission_mark)))
        except BaseException:
            self.close(abort=True)
            raise

    def _call(self, cmd, datas=None):
        """Send a command to every shard (datas: one value per shard), then gather the replies."""
        for i, shard in enumerate(self.shards):
            shard.send(cmd, None if datas is None else datas[i])
        replies = [shard.recv() for shard in self.shards]
        for status, value in replies:
            if status == "error":
                raise UserError(value)
            if status == "interrupted":
                raise WaitInterrupted(value)
            if status == "crash":
                raise WorkerError(f"environment worker crashed: {value}", self.worker_log)
            if status == "died":
                raise WorkerError(self._death_message(), self.worker_log)
        return [value for _, value in replies]

    def _death_message(self):
        dead = self.dead_workers()
        what = ", ".join(f"{i} (exit code {code})" for i, code in dead) or "?"
        detail = _last_line(self.worker_log) if self.worker_log else None
        return f"environment worker process {what} died" + (f": {detail}" if detail else "")

    def dead_workers(self, wait=0.5):
        """[(worker index, exit code)] of the worker processes that have exited (waits up to `wait` seconds in all
        for ones that are just exiting: a broken pipe can be seen before the exit)."""
        deadline = time.monotonic() + wait
        dead = []
        for i, shard in enumerate(self.shards):
            proc = getattr(shard, "proc", None)
            if proc is not None:
                proc.join(max(0.0, deadline - time.monotonic()))
                if proc.exitcode is not None:
                    dead.append((i, proc.exitcode))
        return dead

    def interrupt_waits(self):
        """From a signal handler: ask worker processes to cut their LLM waits short (utils.interrupt)."""
        for shard in self.shards:
            proc = getattr(shard, "proc", None)
            if proc is not None and proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGUSR1)

    def reset(self, seeds=None):
        """Fresh episodes in every env (env i with seeds[i] when given)."""
        self._call("reset", None if seeds is None else [list(seeds[a:b]) for a, b in self.slices])

    def step(self, actions):
        self._call("step", [actions[a:b] for a, b in self.slices])

    def set_teacher(self, enabled):
        self._call("teacher", [enabled] * len(self.shards))

    def get_state(self):
        parts = self._call("get_state")
        return {k: sum((p[k] for p in parts), []) for k in parts[0]}

    def set_state(self, state):
        self._call("set_state", [{k: v[a:b] for k, v in state.items()} for a, b in self.slices])

    def set_recording(self, enabled):
        """Keep a picture of every env after each reset and step (for videos); see frames()."""
        self._call("recording", [enabled] * len(self.shards))

    def frames(self):
        """[(RGB frame, return so far)] of every env after the last reset or step (set_recording first)."""
        return sum(self._call("frames"), [])

    def planner_stats(self):
        from planner.live.stats import merge_stats
        return merge_stats(self._call("stats"))

    def close(self, abort=False):
        """Release the envs; abort=True (after an error or a second Ctrl-C) terminates worker processes instead of
        asking them to finish, so closing never waits on a busy or dead worker."""
        if not abort or self.workers <= 0:
            try:
                self._call("close")
            except (UserError, WorkerError):
                pass  # closing must not mask the original error
        for shard in self.shards:
            proc = getattr(shard, "proc", None)
            if proc is None:
                continue
            if abort and proc.is_alive():
                proc.terminate()
            proc.join(timeout=2 if abort else 5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=2)
            shard.conn.close()
        self.shards = []
        if self.shm is not None:
            self.arrays = None
            with contextlib.suppress(OSError, BufferError):
                self.shm.close()  # fails while arrays of a caller still point into it; unlinking frees it anyway
            with contextlib.suppress(OSError):
                self.shm.unlink()
            self.shm = None
        if self.worker_log and os.path.isfile(self.worker_log) and os.path.getsize(self.worker_log) == 0:
            with contextlib.suppress(OSError):
                os.unlink(self.worker_log)
