"""Atomic file writes: a temporary file in the same folder, fsync, rename, fsync of the folder. A crash at any
moment (even SIGKILL or a full disk) leaves either the old file or the new one, never a half-written file.

Temporary files are named `.<name>.<random>.tmp`: hidden and not ending in the real suffix, so nothing that looks
for checkpoints (`*.pt`) or metrics picks one up; `remove_stale_temps` deletes those a killed writer left.
"""
import errno
import os
import tempfile

from utils.errors import UserError

TEMP_SUFFIX = ".tmp"


def fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a directory; the rename itself is still atomic
        pass
    finally:
        os.close(fd)


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def atomic_write(path, content, what="file"):
    """Replace `path` with `content` (str, bytes, or a function writing to a binary file object) atomically.
    Any write failure becomes a one-line UserError that says the old file is kept; KeyboardInterrupt leaves no
    temporary file behind."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=TEMP_SUFFIX, dir=folder)
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode("utf-8") if isinstance(content, str) else content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        fsync_dir(folder)
    except (OSError, RuntimeError) as e:  # torch's zip writer reports a failed write as RuntimeError
        if tmp is not None:
            _unlink_quietly(tmp)
        reason = e.strerror if isinstance(e, OSError) and e.strerror else (str(e).strip().splitlines() or [""])[0][:120]
        kept = f" (the previous {what} is kept)" if os.path.isfile(path) else ""
        hint = "; free some disk space" if isinstance(e, OSError) and e.errno == errno.ENOSPC else ""
        raise UserError(f"could not write {what} {path}: {reason}{kept}{hint}") from None
    except BaseException:
        if tmp is not None:
            _unlink_quietly(tmp)
        raise
    return path


def remove_stale_temps(folder):
    """Delete temporary files a killed atomic_write left in `folder` (call only while no one writes there)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = [n for n in names if n.startswith(".") and n.endswith(TEMP_SUFFIX)]
    for name in removed:
        _unlink_quietly(os.path.join(folder, name))
    return removed
