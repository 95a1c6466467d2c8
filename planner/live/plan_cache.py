"""A persistent, process-safe cache of LLM answers per observation text.

File format (JSON):
    {"format": "llm4teach-plan-cache", "version": 1,
     "entries": {KEY: {"model": ..., "system_sha256": ..., "sampling": {...}, "text": ...,
                       "plans": [valid plan strings, repeats kept], "invalid": n, "answers": n, "created": ...}}}
KEY = sha256 over (model, sha256 of the system prompt, sampling settings, observation text), so one file can
hold several models, prompts and settings.

Safety: every write happens under an exclusive lock on `PATH.lock` (utils.file_lock), re-reads the file, merges and
replaces it atomically (temporary file in the same folder, fsync, os.replace); readers never see a partial
file; the lock is held only while a write merges, never while an LLM is asked. `get_or_compute` claims the key
first (a file PATH.claims/KEY created exclusively, naming its host and process): when several processes or
threads (workers of one run, or two runs) miss the same text, the claimant asks the LLM and the others wait for
its answer, so each text is asked once while different texts are asked at the same time. A claim whose process
is gone (same host), or older than STALE_CLAIM_SECONDS (another host), is taken over.
"""
import contextlib
import datetime
import hashlib
import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

from utils import interrupt
from utils.atomic import atomic_write
from utils.errors import UserError
from utils.file_lock import locked

FORMAT = "llm4teach-plan-cache"
VERSION = 1
STALE_CLAIM_SECONDS = 3600.0   # a claim from another host older than this is abandoned
CLAIM_POLL_SECONDS = 0.05      # how often a process waiting for another's answer looks for it


def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(model, system_prompt, sampling, text):
    """Key of one (model, system prompt, sampling settings, observation text)."""
    blob = json.dumps([str(model), sha256(system_prompt), sampling, text], sort_keys=True, ensure_ascii=False)
    return sha256(blob)


def check_cache_path(path):
    """UserError (one line, before any run folder exists) unless `path` can be the plan cache: a regular file (or
    none yet) in a folder this process can write in (or create): the cache, its lock and its claims live there."""
    path = Path(path)
    flag = f"--plan_cache {path}"
    if path.is_dir():
        raise UserError(f"{flag} is a folder; give a file in it (e.g. {path / 'plan_cache.json'}), or 'none' to turn "
                        f"the cache off")
    if path.exists() and not path.is_file():
        raise UserError(f"{flag} is not a regular file (a device, pipe or socket); give a .json file, or 'none' to "
                        f"turn the cache off")
    folder = path.parent
    probe = folder
    while not probe.exists() and probe != probe.parent:  # the nearest folder that exists: the rest is created
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{flag}: {probe} is not a folder")
    try:  # a trial file (or, when folders are still to be made, a trial folder), removed at once
        if probe == folder:
            fd, trial = tempfile.mkstemp(dir=probe, prefix=".plan-cache-check-")
            os.close(fd)
            os.unlink(trial)
        else:
            os.rmdir(tempfile.mkdtemp(dir=probe, prefix=".plan-cache-check-"))
    except OSError as e:
        raise UserError(f"{flag}: cannot {'write in' if probe == folder else 'create folders in'} {probe} "
                        f"({e.strerror or e}); give a writable path, or 'none' to turn the cache off") from None


def empty_cache():
    return {"format": FORMAT, "version": VERSION, "entries": {}}


class PlanCache:
    def __init__(self, path):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.claims = self.path.with_name(self.path.name + ".claims")
        self._snapshot = None  # (stat signature, entries)

    def __repr__(self):
        return f"PlanCache({str(self.path)!r})"

    def __getstate__(self):
        return {"path": self.path, "lock_path": self.lock_path, "claims": self.claims, "_snapshot": None}

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
        with locked(self.lock_path):
            yield

    def _write(self, data):
        atomic_write(str(self.path), json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n",
                     what="plan cache")
        self._snapshot = None

    def put(self, key, entry):
        with self._locked():
            data = self._read()
            data["entries"][key] = entry
            self._write(data)

    # ---- asking once: claims ----
    def _claim(self, key):
        """Claim `key` (True), or find it claimed by a live asker (False)."""
        self.claims.mkdir(parents=True, exist_ok=True)
        path = self.claims / key
        mine = self.claims / f".{key}.{os.getpid()}.{threading.get_ident()}"
        with open(mine, "w", encoding="utf-8") as f:  # written whole before it becomes the claim (os.link)
            json.dump({"host": socket.gethostname(), "pid": os.getpid()}, f)
        try:
            for _ in range(2):
                try:
                    os.link(mine, path)
                    return True
                except FileExistsError:
                    if not _stale(path):
                        return False
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
        finally:
            os.unlink(mine)
        return False

    def _release(self, key):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.claims / key)

    def get_or_compute(self, key, compute):
        """(entry, hit): the cached entry, or compute() -> entry, stored; asked once across processes and threads
        (the others wait for the claimant's answer; a claimant that fails leaves the key to the next one)."""
        while True:
            entry = self.get(key)
            if entry is not None:
                return entry, True
            if self._claim(key):
                try:
                    entry = self.get(key)  # answered between the look and the claim
                    if entry is not None:
                        return entry, True
                    entry = dict(compute())
                    entry.setdefault("created", datetime.datetime.now(datetime.timezone.utc)
                                     .isoformat(timespec="seconds"))
                    self.put(key, entry)
                    return entry, False
                finally:
                    self._release(key)
            with interrupt.waiting():  # another process or thread is asking: its answer will land in the file
                time.sleep(CLAIM_POLL_SECONDS)


def _stale(path):
    """Whether a claim file's asker is gone: its process has ended (this host), or it is old (another host)."""
    try:
        with open(path, encoding="utf-8") as f:
            owner = json.load(f)
        age = time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return False  # released meanwhile: claim again
    except (OSError, ValueError):
        return True   # unreadable
    if not isinstance(owner, dict):
        return True
    if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
        try:
            os.kill(owner["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return age > STALE_CLAIM_SECONDS
