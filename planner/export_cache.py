"""Export the answers of a live LLM from a plan cache as a named recorded-answer table with its provenance.

    python -m planner.export_cache log/ppo/SimpleDoorKey/plan_cache.json --task SimpleDoorKey --out gemma3-270m
    python main.py train --task SimpleDoorKey --answers gemma3-270m      # the same teacher, no server

--out is a table name (written to configs/answers/NAME.json, where --answers finds it) or a .json file; an
existing table keeps its other tasks. The entries exported are those asked with the task's system prompt, of one
model and one set of planner settings (--model, --mode and --where choose when the cache holds several). Each text gets the
distribution the live teacher used: the frequencies of its valid answers (--llm_plans sample) or the model's
probabilities of the candidate plans (logprobs); a text without a valid answer is `explore`, as it was live.
"""
import argparse
import datetime
import json
import sys
from pathlib import Path

from planner import answer_tables
from planner.base import FALLBACK
from planner.live.llm_planner import entry_distribution
from planner.live.plan_cache import PlanCache, sha256
from utils.errors import UserError
from planner.task_spec import load_prompt, task_config


def settings_groups(cache_path, task_cfg):
    """The task's cache entries grouped by (model, planner settings): [{"model", "sampling", "entries"}], in the
    order first seen. Only entries asked with the task's current system prompt count."""
    if not cache_path.is_file():
        raise UserError(f"plan cache not found: {cache_path}")
    prompt_hash = sha256(load_prompt(task_cfg))
    groups = {}
    for entry in PlanCache(cache_path).entries().values():
        if not isinstance(entry, dict) or entry.get("system_sha256") != prompt_hash \
                or not isinstance(entry.get("text"), str):
            continue
        key = json.dumps([entry.get("model"), entry.get("sampling")], sort_keys=True)
        groups.setdefault(key, {"model": entry.get("model"), "sampling": entry.get("sampling") or {},
                                "prompt_sha256": prompt_hash, "entries": []})["entries"].append(entry)
    return list(groups.values())


def describe(group):
    s = group["sampling"]
    return f"model {group['model']} " + " ".join(f"{k}={s[k]}" for k in sorted(s)) + f" ({len(group['entries'])} texts)"


def select(groups, task_name, cache_path, model=None, mode=None, sampling=None, where=None):
    """The one group matching the filters: model, mode (sample | logprobs), sampling (the exact settings, as a
    planner's `.sampling`), where ({setting: value as text}, e.g. {"temperature": "0.5"})."""
    where = dict(where or {})
    found = [g for g in groups if (model is None or g["model"] == model)
             and (mode is None or g["sampling"].get("mode", "sample") == mode)
             and (sampling is None or g["sampling"] == sampling)
             and all(k in g["sampling"] and str(g["sampling"][k]) == v for k, v in where.items())]
    if not found:
        who = "".join(f" and {k} {v!r}" for k, v in (("model", model), ("mode", mode)) if v is not None)
        who += "".join(f" and {k}={v}" for k, v in where.items())
        raise UserError(f"plan cache {cache_path} has no answers for task {task_name}{who}")
    if len(found) > 1:
        raise UserError(f"plan cache {cache_path} holds answers of {len(found)} settings for task {task_name}; "
                        "choose one with --model, --mode or --where KEY=VALUE: " + "; ".join(map(describe, found)))
    return found[0]


def group_table(group, where):
    """{text: {"plans": [...], "probs": [...]}}: the distribution the live teacher used for each text."""
    table = {}
    for entry in sorted(group["entries"], key=lambda e: e["text"]):
        dist = entry_distribution(entry, where) or FALLBACK
        table[entry["text"]] = {"plans": [p for p, _ in dist], "probs": [q for _, q in dist]}
    return table


def group_provenance(group):
    s, entries = group["sampling"], group["entries"]
    dates = sorted(e["created"] for e in entries if isinstance(e.get("created"), str))
    out = {"model": group["model"], "planner": s.get("mode", "sample")}
    if "candidates" in s:
        out["candidates"] = s["candidates"]
    out.update({"prompt_sha256": group["prompt_sha256"], "settings": s, "texts": len(entries),
                "texts_without_valid_answer": sum(1 for e in entries if not entry_distribution(e, "")),
                "asked": [dates[0], dates[-1]] if dates else None,
                "exported": datetime.date.today().isoformat()})
    return out


def export(cache_path, task_name, out, model=None, mode=None, sampling=None, where=None, source=None):
    """Write one task's answers of one (model, settings) from the cache into the table `out` (name or file);
    returns (path, table, provenance). The filters are those of `select`."""
    cache_path = Path(cache_path)
    task_cfg = task_config(task_name)
    group = select(settings_groups(cache_path, task_cfg), task_cfg["name"], cache_path, model, mode, sampling, where)
    table = group_table(group, cache_path)
    prov = group_provenance(group)
    source = source or "answers of a live LLM exported from a plan cache by python -m planner.export_cache"
    path = answer_tables.write_task(out, task_cfg["name"], table, prov, source)
    return path, table, prov


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m planner.export_cache", description=__doc__.split("\n")[0])
    parser.add_argument("cache", help="plan cache file (--plan_cache of a run)")
    parser.add_argument("--task", required=True, help="task whose answers to export, e.g. SimpleDoorKey")
    parser.add_argument("--out", required=True,
                        help="table name (configs/answers/NAME.json, used as --answers NAME) or a .json file")
    parser.add_argument("--model", default=None, help="only answers of this model")
    parser.add_argument("--mode", default=None, choices=("sample", "logprobs"), help="only answers of this planner")
    parser.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                        help="only answers asked with this planner setting, e.g. temperature=0.5 (repeatable)")
    parser.add_argument("--source", default=None, help="a line saying where the answers come from")
    args = parser.parse_args(argv)
    try:
        if any("=" not in w for w in args.where):
            raise UserError(f"--where expects KEY=VALUE, got {next(w for w in args.where if '=' not in w)!r}")
        where = dict(w.split("=", 1) for w in args.where)
        path, table, prov = export(args.cache, args.task, args.out, args.model, args.mode, where=where,
                                   source=args.source)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(table)} texts of task {task_config(args.task)['name']} ({prov['model']}, {prov['planner']}) "
          f"to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
