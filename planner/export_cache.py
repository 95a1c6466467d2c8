"""Export a plan cache as a recorded-answer table (the format of configs/recorded_answers.json).

    python -m planner.export_cache log/ppo/SimpleDoorKey/plan_cache.json --task SimpleDoorKey --out table.json
    python main.py --task SimpleDoorKey --answers_file table.json      # trains with these answers, no server

Entries are those asked with the task's system prompt (and --model, if given); answers of several models or
sampling settings for one text are pooled. A text whose answers were all invalid is exported as `explore`,
as the live teacher used it. An existing --out table keeps its other tasks.
"""
import argparse
import json
import sys
from pathlib import Path

from planner.answers import plan_distribution
from planner.plan_cache import PlanCache, sha256
from utils.atomic import atomic_write
from utils.errors import UserError
from utils.tasks import load_json, load_prompt, parse_answer_table, task_config


def cache_table(cache_path, task_cfg, model=None, prompt_path=None):
    """{text: {"plans": [...], "probs": [...]}} from the cache entries of one task (and model)."""
    cache_path = Path(cache_path)
    if not cache_path.is_file():
        raise UserError(f"plan cache not found: {cache_path}")
    prompt_hash = sha256(load_prompt(task_cfg, prompt_path))
    pooled = {}
    for entry in PlanCache(cache_path).entries().values():
        if not isinstance(entry, dict) or entry.get("system_sha256") != prompt_hash:
            continue
        if model is not None and entry.get("model") != model:
            continue
        text = entry.get("text")
        if isinstance(text, str):
            pooled.setdefault(text, []).extend(p for p in entry.get("plans", []) if isinstance(p, str) and p)
    table = {}
    for text in sorted(pooled):
        dist = plan_distribution(pooled[text]) or [("explore", 1.0)]
        table[text] = {"plans": [p for p, _ in dist], "probs": [round(q, 6) for _, q in dist]}
    return table


def export(cache_path, task_name, out_path, model=None):
    task_cfg = task_config(task_name)
    table = cache_table(cache_path, task_cfg, model)
    if not table:
        who = f" and model {model!r}" if model else ""
        raise UserError(f"plan cache {cache_path} has no answers for task {task_cfg['name']}{who}")
    parse_answer_table(table, f"export of {cache_path}")  # the same check as --answers_file
    out_path = Path(out_path)
    data = {"source": "", "tasks": {}}
    if out_path.exists():
        data = load_json(out_path, "recorded-answer file")
        if not isinstance(data, dict) or not isinstance(data.get("tasks"), dict):
            raise UserError(f"{out_path} exists and is not a recorded-answer table; choose another --out")
    data["source"] = (f"LLM answers exported from plan cache {cache_path}"
                      + (f" (model {model})" if model else "") + " by planner.export_cache")
    data["tasks"][task_cfg["answers"]] = table
    atomic_write(str(out_path), json.dumps(data, indent=2, ensure_ascii=False) + "\n", what="answer table")
    return task_cfg, table


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m planner.export_cache", description=__doc__.split("\n")[0])
    parser.add_argument("cache", help="plan cache file (--plan_cache of a run)")
    parser.add_argument("--task", required=True, help="task whose answers to export, e.g. SimpleDoorKey")
    parser.add_argument("--out", required=True, help="table to write (used with --answers_file)")
    parser.add_argument("--model", default=None, help="only answers of this model")
    args = parser.parse_args(argv)
    try:
        task_cfg, table = export(args.cache, args.task, args.out, args.model)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(table)} texts of task {task_cfg['name']} (table tasks.{task_cfg['answers']}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
