"""LLM teacher benchmark against the real local model (or any --llm_url).

    python bench/llm.py                   # parse rate and median latency per answer, without and with the grammar
    python bench/llm.py --run_queries     # LLM queries for the SimpleDoorKey texts: first run vs rerun (one cache)
    python bench/llm.py --train_steps 200000   # LLM queries of a full training run, first run vs rerun (one cache)
    python bench/llm.py --llm_url http://127.0.0.1:8000/v1 --llm_model vicuna-7b-v1.5

Without --llm_url it starts SmolLM2-135M via planner.local_llm (needs scripts/install_llm.sh).
"""
import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from planner.answers import extract_plan
from planner.grammar import task_grammar
from planner.llm_planner import LLMPlanner
from planner.stats import summary_line
from planner.openai_client import ChatClient
from planner.plan_cache import PlanCache
from utils.errors import UserError
from utils.tasks import load_prompt, load_recorded_answers, task_config


@contextlib.contextmanager
def server(args):
    if args.llm_url:
        yield args.llm_url, args.llm_model or "default"
        return
    from planner import local_llm
    with local_llm.running_server(n_threads=args.n_threads) as url:
        yield url, local_llm.MODEL_ALIAS


def parse_rate(client, cfg, queries, grammar, temperature, seed):
    system = load_prompt(cfg)
    texts = list(load_recorded_answers(cfg))
    latencies, parsed = [], 0
    for i in range(queries):
        messages = [{"role": "system", "content": system}, {"role": "user", "content": texts[i % len(texts)]}]
        start = time.monotonic()
        answer = client.complete(messages, n=1, temperature=temperature, seed=seed + i, grammar=grammar)[0]
        latencies.append(time.monotonic() - start)
        parsed += extract_plan(answer) is not None
    return {"answers": queries, "parse_rate": parsed / queries, "median_latency_s": statistics.median(latencies)}


def run_queries(client, cfg, n_ask, grammar, temperature, seed):
    texts = list(load_recorded_answers(cfg))
    out = {"texts": len(texts)}
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "plan_cache.json")
        for run in ("first_run", "rerun"):
            client.counters.update(requests=0, retries=0, topups=0, request_seconds=0.0, request_max_s=0.0)
            planner = LLMPlanner(client, load_prompt(cfg), n_ask=n_ask, temperature=temperature, seed=seed,
                                 grammar=grammar, cache=PlanCache(cache))
            start = time.monotonic()
            for t in texts:
                planner.plans(t)
            s = planner.stats()
            out[run] = {"queries": s["queries"], "requests": s["requests"], "cache_hits": s["cache_hits"],
                        "invalid_answers": s["invalid_answers"], "fallbacks": s["fallbacks"],
                        "seconds": round(time.monotonic() - start, 3)}
            print(f"{run}: {summary_line(s)}", flush=True)
    return out


def train_runs(url, args):
    """Two full training runs with the LLM teacher sharing one plan cache: LLM queries of each."""
    from algos.config import Config
    from algos.train import train
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("first", "rerun"):
            config = Config(task=args.task, max_env_steps=args.train_steps, llm_url=url, n_ask=args.n_ask,
                            llm_seed=args.seed, plan_cache=os.path.join(tmp, "plans.json"), logdir=tmp, savedir=name,
                            llm_grammar=not args.no_grammar)
            start = time.perf_counter()
            r = train(config, show_progress=False)
            best = None if r.best_eval is None else r.best_eval[0]
            out[name] = {"queries": r.planner_stats.get("queries", 0), "wall_s": time.perf_counter() - start,
                         "summary": summary_line(r.planner_stats), "best_eval_success": best}
            print(f"{name:>6} run ({args.train_steps:,} env steps, {out[name]['wall_s']:.0f} s, best eval success "
                  f"{best}): {out[name]['summary']}", flush=True)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--llm_url", default=None)
    p.add_argument("--llm_model", default=None)
    p.add_argument("--task", default="SimpleDoorKey")
    p.add_argument("--queries", type=int, default=6, help="answers per mode for the parse-rate benchmark")
    p.add_argument("--run_queries", action="store_true", help="count LLM queries of a first run vs a rerun")
    p.add_argument("--train_steps", type=int, default=0,
                   help="count LLM queries of two full training runs of this many env steps (first vs rerun)")
    p.add_argument("--n_ask", type=int, default=10)
    p.add_argument("--no_grammar", action="store_true", help="--run_queries without the grammar")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n_threads", type=int, default=None)
    p.add_argument("--max_tokens", type=int, default=128)
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args(argv)
    cfg = task_config(args.task)
    try:
        with server(args) as (url, model):
            client = ChatClient(url, model, timeout=120, max_tokens=args.max_tokens)
            results = {"url": url, "model": model, "task": cfg["name"]}
            if args.train_steps > 0:
                results["train_runs"] = train_runs(url, args)
            elif args.run_queries:
                results["run_queries"] = run_queries(client, cfg, args.n_ask,
                                                     None if args.no_grammar else task_grammar(cfg),
                                                     args.temperature, args.seed)
            else:
                for name, grammar in (("no_grammar", None), ("grammar", task_grammar(cfg))):
                    r = results[name] = parse_rate(client, cfg, args.queries, grammar, args.temperature, args.seed)
                    print(f"{name:>10}: parse rate {r['parse_rate']:.2f} over {r['answers']} answers, "
                          f"median latency {r['median_latency_s']:.3f} s", flush=True)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
