"""Where a live LLM teacher's time goes, per new observation text: for each local model and server, the seconds the
logprobs planner pays per new text, split into the server's prompt and generation time, the log-probabilities and
the client's own overhead (planner/live/latency.py says how), idle or beside a training.

    python bench/llm_latency.py                                   # both models, both servers, idle
    python bench/llm_latency.py --models gemma3 --backends llama-server --beside_training
    python bench/llm_latency.py --llm_url http://127.0.0.1:8000/v1 --llm_model NAME   # any running server

The table goes to stdout and, with --md FILE, to a file with the command and the machine.
"""
import argparse
import contextlib
import os
import shlex
import subprocess
import sys
import tempfile

from planner.servers import llama as local_llm
from planner.live.latency import asked_texts, measure, summary
from planner.llm.openai_client import ChatClient
from utils.atomic import atomic_write
from utils.machine import machine_line

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPER_TASKS = ["SimpleDoorKey", "LavaDoorKey", "ColoredDoorKey", "TwoDoor"]


@contextlib.contextmanager
def beside_training(enabled):
    """A training run (one torch thread, SimpleDoorKey) in the background while the block runs."""
    if not enabled:
        yield
        return
    logdir = tempfile.mkdtemp(prefix="llm4teach-latency-")
    proc = subprocess.Popen([sys.executable, "main.py", "train", "--task", "SimpleDoorKey", "--logdir", logdir,
                             "--max_env_steps", "100000000", "--no_progress", "--eval_interval", "0"], cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(60)


def fmt(value, scale=1.0, digits=2):
    return "-" if value is None else f"{value * scale:.{digits}f}"


def row(label, result):
    k, s = result["kinds"], result["split"]
    return (f"| {label} | {fmt(s.get('per_text_s'))} | {fmt(s.get('whole_answer_s'))} | {fmt(s.get('server_prompt_s'))} | "
            f"{fmt(s.get('server_generation_s'))} | {fmt(s.get('logprobs_s'))} | {fmt(s.get('client_overhead_s'))} | "
            f"{fmt(k['plain']['mean_s'])} | {fmt(k['client']['max_s'])} | {fmt(k['plain']['prompt_n'], digits=0)} | "
            f"{k.get('streamed', {}).get('n', 0)}/{k['client']['n']}/{k['raw']['n']}/{k['plain']['n']} |")


HEADER = ("| model, server, threads, slots, load | s per new text (streamed, the planner's) | whole answer s | "
          "server prompt s | server generation s | log-probabilities s | client overhead s | without log-probs s | "
          "max s (whole answer) | prompt tokens computed | texts (streamed/whole/raw/plain) |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["smollm2", "gemma3"])
    p.add_argument("--backends", nargs="+", default=list(local_llm.BACKENDS), choices=local_llm.BACKENDS)
    p.add_argument("--tasks", nargs="+", default=PAPER_TASKS)
    p.add_argument("--threads", type=int, default=None, help="server threads (default: local_llm's, half the cores)")
    p.add_argument("--parallel", type=int, default=local_llm.PARALLEL, help="llama-server's slots")
    p.add_argument("--beside_training", action="store_true", help="measure while a training runs beside the server")
    p.add_argument("--load", default=None, help="how the table names the machine's load (default: idle, or beside a "
                                                "training with --beside_training); e.g. when another job runs")
    p.add_argument("--llm_url", default=None, help="measure this running server instead")
    p.add_argument("--llm_model", default="default")
    p.add_argument("--md", default=None, help="also write the table here")
    args = p.parse_args(argv)
    texts = asked_texts(args.tasks)
    threads = args.threads or local_llm.default_threads()
    load = args.load or ("beside a training" if args.beside_training else "idle")
    lines = [HEADER]
    settings = [(None, None)] if args.llm_url else [(m, b) for m in args.models for b in args.backends]
    for model, backend in settings:
        if args.llm_url:
            server, label = contextlib.nullcontext(args.llm_url), f"{args.llm_model} at {args.llm_url}, {load}"
        else:
            server = local_llm.running_server(model=model, backend=backend, n_threads=threads,
                                              parallel=args.parallel, startup_timeout=300)
            slots = args.parallel if backend == "llama-server" else 1
            label = f"{model}, {backend}, {threads} thread(s), {slots} slot(s), {load}"
        with server as url:
            name = args.llm_model if args.llm_url else local_llm.locate(model)[1]
            ChatClient(url, name, timeout=300).ping()  # the model loaded and one prompt run before the clock
            with beside_training(args.beside_training):
                result = summary(measure(url, name, args.tasks, texts=texts))
        lines.append(row(label, result))
        print(lines[-1], flush=True)
    table = "\n".join(lines)
    print(table)
    if args.md:
        command = "python bench/llm_latency.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
        atomic_write(args.md, f"`{command}`\n\n{machine_line()}\n\n{table}\n", what="latency table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
