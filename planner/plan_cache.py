"""A persistent, process-safe cache of LLM answers per observation text.

File format (JSON):
    {"format": "llm4teach-plan-cache", "version": 1,
     "entries": {KEY: {"model": ..., "system_sha256": ..., "sampling": {...}, "text": ...,
                       "plans": [valid plan strings, repeats kept], "invalid": n, "answers": n, "created": ...}}}
KEY = sha256 over (model, sha256 of the system prompt, sampling settings, observation text), so one file can
hold several models, prompts and settings.

Safety: every write happens under an exclusive `fcntl.flock` on `PATH.lock`, re-reads the file, merges and
replaces it atomically (temporary file in the same folder, fsync, os.replace); readers never see a partial
file. `get_or_compute` holds the lock across read-check-query-write, so when several processes (workers of one
run, or two runs) miss the same text, the LLM is asked once and the others read the answer.
"""
import contextlib
import datetime
import hashlib
import json
import os
from pathlib import Path

from utils.atomic import atomic_write
from utils.errors import UserError

try:
    import fcntl
except ImportError:  # not POSIX: no inter-process locking (atomic replace still keeps the file whole)
    fcntl = None

FORMAT = "llm4teach-plan-cache"
VERSION = 1


def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(model, system_prompt, sampling, text):
    """Key of one (model, system prompt, sampling settings, observation text)."""
    blob = json.dumps([str(model), sha256(system_prompt), sampling, text], sort_keys=True, ensure_ascii=False)
    return sha256(blob)


def empty_cache():
    return {"format": FORMAT, "version": VERSION, "entries": {}}


class PlanCache:
    def __init__(self, path):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._snapshot = None  # (stat signature, entries)

    def __repr__(self):
        return f"PlanCache({str(self.path)!r})"

    def __getstate__(self):
        return {"path": self.path, "lock_path": self.lock_path, "_snapshot": None}

    # ---- reading ----
    def _signature(self):
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _read(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return empty_cache()
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"plan cache {self.path} is corrupt ({e}); delete it or pass another --plan_cache") from None
        except OSError as e:
            raise UserError(f"cannot read plan cache {self.path}: {e}") from None
        if (not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("entries"), dict)):
            raise UserError(f"{self.path} is not a plan cache (format {FORMAT!r}); pass another --plan_cache")
        if data.get("version") != VERSION:
            raise UserError(f"plan cache {self.path} has version {data.get('version')}, expected {VERSION}")
        return data

    def entries(self):
        """All entries {key: entry} (re-read only when the file changed)."""
        sig = self._signature()
        if sig is None:
            return {}
        if self._snapshot is None or self._snapshot[0] != sig:
            self._snapshot = (sig, self._read()["entries"])
        return self._snapshot[1]

    def get(self, key):
        return self.entries().get(key)

    # ---- writing ----
    @contextlib.contextmanager
    def _locked(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            yield
            return
        with open(self.lock_path, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _write(self, data):
        atomic_write(str(self.path), json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n",
                     what="plan cache")
        self._snapshot = None

    def put(self, key, entry):
        with self._locked():
            data = self._read()
            data["entries"][key] = entry
            self._write(data)

    def get_or_compute(self, key, compute):
        """(entry, hit): the cached entry, or compute() -> entry stored under the lock (asked once across processes)."""
        entry = self.get(key)
        if entry is not None:
            return entry, True
        with self._locked():
            data = self._read()
            entry = data["entries"].get(key)
            if entry is not None:
                return entry, True
            entry = dict(compute())
            entry.setdefault("created", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
            data["entries"][key] = entry
            self._write(data)
            return entry, False
