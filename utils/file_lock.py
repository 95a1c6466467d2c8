"""The project's one inter-process lock: an exclusive lock on a file, built on the `filelock` package (an OS lock
that the kernel releases when its process dies, even on SIGKILL). Two holders in one process (two threads, two
objects) exclude each other as two processes do.

    with locked(path): ...                      # wait for the lock, hold it for the block
    lock = hold(path, wait=False); ...; lock.release()   # Busy at once when another holder has it
"""
import contextlib

from filelock import FileLock, Timeout


class Busy(Exception):
    """Another holder has the lock."""


def hold(path, wait=True):
    """Take the exclusive lock on `path` (the file is created if missing and left in place) and return it; its
    release() frees it. wait=False: raise Busy at once instead of waiting."""
    lock = FileLock(str(path), timeout=-1 if wait else 0)
    try:
        lock.acquire()
    except Timeout:
        raise Busy(str(path)) from None
    return lock


@contextlib.contextmanager
def locked(path):
    """Hold the exclusive lock on `path` for the block (waiting for it first)."""
    lock = hold(path)
    try:
        yield
    finally:
        lock.release()


def is_held(path):
    """True if some holder has the lock on `path` now."""
    try:
        hold(path, wait=False).release()
    except Busy:
        return True
    return False
