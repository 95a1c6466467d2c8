"""The live LLM teacher table: for tasks x models x planner modes x candidate sets, the parse rate, the agreement
with the recorded answers, seconds per text, distinct texts asked and the teacher alone on held-out episodes
(env seeds 2,000,000+); the recorded tables (--answers NAME) beside them. Columns: algos/experiments/teacher_table.py.

    python bench/llm.py                                        # the four paper tasks, SmolLM2-135M and Gemma 3 270M
    python bench/llm.py --tasks SimpleDoorKey --models smollm2 --modes logprobs --episodes 10
    python bench/llm.py --models gemma3 --modes logprobs --export {model}     # also writes configs/answers/gemma3.json
    python bench/llm.py --models /models/qwen2.5-0.5b-instruct-q4_k_m.gguf   # any GGUF file
    python bench/llm.py --llm_url http://127.0.0.1:8000/v1 --llm_model vicuna-7b-v1.5 --modes free
    python bench/llm.py --models gemma3 --train_steps 300000   # also a student per setting (held-out success)

Every answer lands in the plan cache (--cache, default <logdir>/plan_cache.json), so a rerun asks the models
nothing and costs only the episodes. The table goes to stdout and to --md (default <logdir>/teacher_table.md, with
the command and the machine); the rows to --json. With --export TEMPLATE each live setting's answers are written
as a recorded-answer table named TEMPLATE.format(model=, mode=, candidates=) (configs/answers/NAME.json; a .json
file name also works), one entry per task, selectable with `main.py train --answers NAME`.
"""
import argparse
import contextlib
import json
import os
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from algos.config import Config
from algos.run.evaluate import evaluate
from algos.experiments.teacher_table import HELD_OUT_SEED, MODES, TeacherSetting, markdown, measure, official_table, \
    recorded_row, setting_config
from algos.run.train import train
from utils.atomic import atomic_write
from utils.machine import machine_line
from utils.errors import UserError
from planner.task_spec import task_config, task_names


@contextlib.contextmanager
def served(model, args):
    """(url, server model name or None) of a model: the given --llm_url, or a local llama.cpp server for it."""
    if args.llm_url:
        yield args.llm_url, args.llm_model
        return
    from planner.servers import llama as local_llm
    with local_llm.running_server(model=model, n_threads=args.n_threads, startup_timeout=300) as url:
        yield url, None


def shown_name(model):
    """smollm2, gemma3, or a GGUF file's name without .gguf (names rows and exported tables)."""
    name = Path(model).name
    return name[:-5] if name.lower().endswith(".gguf") else name


def student(setting, url, args, llm_model):
    """Held-out success of a student trained with this teacher for --train_steps env steps."""
    config = setting_config(setting, url, args.cache, args.logdir, args.episodes, args.env_seed, llm_model=llm_model,
                            n_ask=args.n_ask)
    name = f"{setting.model}-{setting.mode}" + (f"-{setting.candidates}" if setting.candidates else "")
    run = train(replace(config, eval_teacher=False, max_env_steps=args.train_steps, savedir=name,
                        num_eval=Config().num_eval, env_seed_list=Config().env_seed_list), show_progress=False)
    final = evaluate(Config(task=setting.task, loaddir=run.run_dir, num_eval=args.episodes,
                            env_seed_list=[args.env_seed], logdir=args.logdir, video=0), given={})
    return {"student_success": final.overall["success"], "student_env_steps": run.env_steps}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=task_names())
    p.add_argument("--models", nargs="+", default=["smollm2", "gemma3"], help="smollm2, gemma3 or GGUF files")
    p.add_argument("--modes", nargs="+", default=["logprobs"], choices=list(MODES))
    p.add_argument("--candidates", nargs="+", default=[None],
                   help="candidate plan sets (values of --llm_candidates; default: its default)")
    p.add_argument("--answers", nargs="*", default=["official"], help="recorded tables to put beside (--answers)")
    p.add_argument("--n_ask", type=int, default=10)
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--env_seed", type=int, default=HELD_OUT_SEED)
    p.add_argument("--logdir", default="log/bench_llm")
    p.add_argument("--cache", default=None, help="plan cache (default <logdir>/plan_cache.json)")
    p.add_argument("--md", default=None, help="markdown table file (default <logdir>/teacher_table.md)")
    p.add_argument("--json", default=None, help="also write the rows to this file")
    p.add_argument("--export", default=None, metavar="TEMPLATE", help="write each setting's answers as the table "
                   "TEMPLATE.format(model=, mode=, candidates=), e.g. {model}-{mode}")
    p.add_argument("--train_steps", type=int, default=0, help="also train a student with each teacher (env steps)")
    p.add_argument("--llm_url", default=None, help="a running server instead of the local models")
    p.add_argument("--llm_model", default=None)
    p.add_argument("--n_threads", type=int, default=None)
    args = p.parse_args(argv)
    args.cache = args.cache or os.path.join(args.logdir, "plan_cache.json")
    args.md = args.md or os.path.join(args.logdir, "teacher_table.md")
    rows = []
    try:
        for task in args.tasks:
            for answers in args.answers:
                if answers == "official" and official_table(task_config(task)) is None:
                    continue  # a task the official code never had (its live rows have no agreement column)
                rows.append(recorded_row(task, answers, args.logdir, args.episodes, args.env_seed))
                print(markdown(rows[-1:]).splitlines()[-1], flush=True)
        for model in ([args.llm_model or "server"] if args.llm_url else args.models):
            with served(model, args) as (url, llm_model):
                for task in args.tasks:
                    for mode in args.modes:
                        for candidates in args.candidates:
                            setting = TeacherSetting(task, shown_name(model), mode, candidates)
                            export = args.export.format(model=setting.model, mode=mode, candidates=candidates or
                                                        "default") if args.export else None
                            row = measure(setting, url, args.cache, args.logdir, args.episodes, args.env_seed,
                                          export=export, source=f"bench/llm.py: {' '.join(sys.argv[1:])}",
                                          llm_model=llm_model, n_ask=args.n_ask)
                            if args.train_steps:
                                row.update(student(setting, url, args, llm_model))
                            rows.append(row)
                            print(markdown([row]).splitlines()[-1], flush=True)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if rows:
            write(rows, args)
    return 0


def write(rows, args):
    table = markdown(rows)
    students = [r for r in rows if "student_success" in r]
    extra = "".join(f"- student of {r['task']} {r['model']} {r['mode']}: {r['student_success']:.2f} after "
                    f"{r['student_env_steps']} env steps\n" for r in students)
    note = (f"Command: `python bench/llm.py {shlex.join(sys.argv[1:])}`\n\nMachine: {machine_line()}\n\n"
            f"Held-out env seeds {args.env_seed}+; plan cache {args.cache}.\n")
    atomic_write(args.md, table + "\n" + extra + ("\n" if extra else "") + note, what="teacher table")
    print(f"\n{table}\n{extra}{note}table written to {args.md}")
    if args.json:
        atomic_write(args.json, json.dumps(rows, indent=2) + "\n", what="teacher table rows")


if __name__ == "__main__":
    sys.exit(main())
