"""Local LLM teachers, measured: per model and planner mode, the parse rate, the plan agreement with the recorded
answers, the latency, the teacher alone and (with --train_steps) a student trained with it.

    python bench/llm.py                                   # SmolLM2-135M and Gemma 3 270M, every mode, SimpleDoorKey
    python bench/llm.py --models gemma3 --modes logprobs --train_steps 300000
    python bench/llm.py --llm_url http://127.0.0.1:8000/v1 --llm_model vicuna-7b-v1.5 --modes free

Modes: free (n_ask sampled answers, no grammar), grammar (n_ask answers under the per-observation grammar),
logprobs (one greedy answer per text; the distribution from the model's token probabilities over the candidate
plans). Agreement: per recorded text, the probability mass both distributions give to the same first step of a
plan (the step the teacher acts on), averaged over the texts. Episodes use held-out env seeds 2,000,000+.
"""
import argparse
import contextlib
import json
import os
import sys
import tempfile
from dataclasses import replace

from algos.config import Config
from algos.evaluate import evaluate
from algos.train import train
from planner.factory import build_planner
from planner.mediator import parse_plan
from utils.errors import UserError
from utils.tasks import load_recorded_answers, task_config

MODES = {"free": {}, "grammar": {"llm_grammar": True}, "logprobs": {"llm_plans": "logprobs"}}


@contextlib.contextmanager
def server(model, args):
    if args.llm_url:
        yield args.llm_url, args.llm_model
        return
    from planner import local_llm
    with local_llm.running_server(model=model, n_threads=args.n_threads, startup_timeout=300) as url:
        yield url, local_llm.MODELS[model]


def first_steps(dist):
    """{first option of the plan: probability} of a plan distribution."""
    out = {}
    for plan, p in dist:
        options = parse_plan(plan)
        key = options[0] if options else ("wait", None)
        out[key] = out.get(key, 0.0) + p
    return out


def agreement(planner, table):
    scores = []
    for text, recorded in table.items():
        a, b = first_steps(planner.plans(text)), first_steps(recorded)
        scores.append(sum(min(a.get(k, 0.0), b.get(k, 0.0)) for k in set(a) | set(b)))
    return sum(scores) / len(scores)


def measure(url, model, mode, args, tmp):
    task = task_config(args.task)
    config = Config(task=task["name"], llm_url=url, llm_model=model, n_ask=args.n_ask, llm_seed=0,
                    llm_timeout=300, llm_max_tokens=64, plan_cache=os.path.join(tmp, f"{model}-{mode}.json"),
                    logdir=tmp, num_eval=args.episodes, env_seed_list=[2_000_000], **MODES[mode])
    planner = build_planner(config, task, tmp)
    row = {"model": model, "mode": mode, "agreement": agreement(planner, load_recorded_answers(task))}
    s = planner.stats()
    planner.close()
    valid = s["queries"] * args.n_ask - s["invalid_answers"]  # of all the answers received, re-asks included
    row["parse_rate"] = 1.0 if mode == "logprobs" else valid / max(1, s["answers"])
    row["seconds_per_text"] = s["query_seconds"] / max(1, s["queries"])
    row["teacher_success"] = evaluate(replace(config, eval_teacher=True), given={}).overall["success"]
    if args.train_steps:
        run = train(replace(config, max_env_steps=args.train_steps, savedir=f"{model}-{mode}"), show_progress=False)
        final = evaluate(replace(Config(), task=task["name"], loaddir=run.run_dir, num_eval=args.episodes,
                                 env_seed_list=[2_000_000], logdir=tmp), given={})
        row.update(student_success=final.overall["success"], student_env_steps=run.env_steps)
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["smollm2", "gemma3"])
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    p.add_argument("--task", default="SimpleDoorKey")
    p.add_argument("--n_ask", type=int, default=10)
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--train_steps", type=int, default=0, help="also train a student with each teacher (env steps)")
    p.add_argument("--llm_url", default=None, help="a running server instead of the local models")
    p.add_argument("--llm_model", default=None)
    p.add_argument("--n_threads", type=int, default=None)
    p.add_argument("--json", default=None, help="also write the rows to this file")
    args = p.parse_args(argv)
    rows = []
    print("| model | mode | parse rate | plan agreement | s per text | teacher success | student success |")
    print("|---|---|---|---|---|---|---|")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for model in ([args.llm_model or "server"] if args.llm_url else args.models):
                with server(model, args) as (url, name):
                    for mode in args.modes:
                        r = measure(url, name, mode, args, tmp)
                        rows.append(r)
                        student = f"{r['student_success']:.2f} ({r['student_env_steps'] / 1e3:.0f}k steps)" \
                            if "student_success" in r else "-"
                        print(f"| {name} | {mode} | {r['parse_rate']:.2f} | {r['agreement']:.2f} | "
                              f"{r['seconds_per_text']:.1f} | {r['teacher_success']:.2f} | {student} |", flush=True)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
