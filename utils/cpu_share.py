"""Fair CPU sharing between trainings on one machine: each training registers itself in a folder shared by the
user's trainings (a file it holds an exclusive lock on for as long as it runs, released by the kernel even when the
process is killed), and before each iteration sets its torch threads to its share of the cores, so two runs
started side by side do not starve each other through torch's spinning OpenMP threads, while a run alone keeps
every core.

    with CpuShare() as share:
        torch.set_num_threads(share.threads())
"""
import os
import tempfile
import uuid

from utils.file_lock import is_held, hold


def cpu_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def resolve_workers(requested, num_envs):
    """--workers -1: no worker processes on 1-2 cores (measured: the batched student forward with both cores
    plus in-process envs beats worker processes there, see bench/throughput.py); with more cores, half of them
    step the envs and their teachers while the rest run the student."""
    if requested >= 0:
        return min(requested, num_envs)
    cores = cpu_cores()
    return 0 if cores <= 2 else min(cores // 2, num_envs)


def fixed_threads():
    """OMP_NUM_THREADS when the user (or a scheduler such as Ray) set it: then that many threads, always."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def default_folder():
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return os.path.join(tempfile.gettempdir(), f"llm4teach-cpu-share-{uid}")


class CpuShare:
    def __init__(self, reserved=0, folder=None, cores=None):
        """reserved: cores this run keeps busy besides torch (its environment worker processes)."""
        self.reserved, self.cores = reserved, cores or cpu_cores()
        self.fixed = fixed_threads()
        self.folder = folder or default_folder()
        self.path = self._lock = None
        if self.fixed is not None:
            return
        try:
            os.makedirs(self.folder, exist_ok=True)
            self.path = os.path.join(self.folder, f"{os.getpid()}-{uuid.uuid4().hex[:8]}.run")
            self._lock = hold(self.path)
        except OSError:  # no shared folder: behave as a run alone
            self.close()

    def live_runs(self):
        """Registered runs whose process still holds its lock (files of dead runs are removed on the way)."""
        if self._lock is None:
            return 1
        live = 0
        try:
            names = os.listdir(self.folder)
        except OSError:
            return 1
        for name in names:
            path = os.path.join(self.folder, name)
            if path == self.path:
                live += 1
                continue
            try:
                if is_held(path):
                    live += 1  # its owner is alive
                else:
                    os.unlink(path)  # stale: its owner died
            except OSError:
                continue
        return max(1, live)

    def threads(self):
        """Torch threads for the next iteration: the fixed count, or this run's share of the cores."""
        if self.fixed is not None:
            return self.fixed
        return max(1, self.cores // self.live_runs() - self.reserved)

    def close(self):
        if self._lock is not None:
            try:
                self._lock.release()
            finally:
                self._lock = None
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            self.path = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
