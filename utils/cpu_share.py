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

try:
    import fcntl
except ImportError:  # not POSIX: no registry, every run uses all cores
    fcntl = None


def cpu_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


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
        self.path = self._file = None
        if fcntl is None or self.fixed is not None:
            return
        try:
            os.makedirs(self.folder, exist_ok=True)
            self.path = os.path.join(self.folder, f"{os.getpid()}-{uuid.uuid4().hex[:8]}.run")
            self._file = open(self.path, "w")
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        except OSError:  # no shared folder: behave as a run alone
            self.close()

    def live_runs(self):
        """Registered runs whose process still holds its lock (files of dead runs are removed on the way)."""
        if self._file is None:
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
                with open(path, "r") as f:
                    try:
                        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        live += 1  # its owner is alive
                        continue
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
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None
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
