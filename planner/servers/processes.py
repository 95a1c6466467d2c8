"""Starting and stopping real LLM server processes on this machine (llama.cpp's, FastChat's): free ports, logs,
readiness checks, and children that die with the process that started them."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from utils.errors import UserError


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent():
    """In a server child (Linux): get SIGTERM when the starting process dies, so no server is left orphaned."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort
        pass


def spawn(command, log_path, env=None):
    """Start a server process writing to log_path (its own session, so a Ctrl-C reaches only its starter)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)


def models_listed(url):
    """The model ids a running OpenAI-compatible server lists at url/models (None when it does not answer)."""
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url + "/models", timeout=2) as r:
            data = json.loads(r.read().decode("utf-8"))
            return [m.get("id") for m in data.get("data", []) if isinstance(m, dict)]
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        return None


def tail(path, n=1500):
    try:
        return Path(path).read_text(errors="replace")[-n:].strip()
    except OSError:
        return ""


def wait_until(ready, procs, what, timeout, log_paths):
    """Poll ready() until it is true; UserError (with the logs' last lines) when a process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not ready():
        for proc, log in zip(procs, log_paths):
            if proc.poll() is not None:
                raise UserError(f"{what} exited with status {proc.returncode} (log {log}): "
                                + " | ".join(tail(log).splitlines()[-3:]))
        if time.monotonic() > deadline:
            raise UserError(f"{what} did not answer within {timeout:g} s (logs: {', '.join(map(str, log_paths))})")
        time.sleep(0.2)


def stop(procs, grace=10.0):
    """SIGTERM each process, SIGKILL what is still alive after `grace` seconds."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve_until_interrupted(procs, banner):
    """The foreground part of a `python -m planner.<server>` command: print the banner, wait; Ctrl-C or `kill`
    stops every process. Returns the exit status."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    for line in banner:
        print(line, flush=True)
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        dead = next(p for p in procs if p.poll() is not None)
        print(f"error: a server process stopped with status {dead.returncode}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop(procs)


def cache_dir():
    """Where converted models and built wheels are kept (outside the repository)."""
    return Path(os.environ.get("LLM4TEACH_CACHE", Path.home() / ".cache" / "llm4teach"))
