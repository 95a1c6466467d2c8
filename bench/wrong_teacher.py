"""A wrong teacher cannot hold the student back? A uniform teacher (every observation text answered with a uniform
distribution over every plan the vocabulary offers for it: `--llm_candidates all`'s candidates) teaches a task that
plain PPO learns on its own; plain PPO, the paper's clock and the paper's clock with `--teacher_filter advantage`
run with the same budget and seeds, and `--teacher_schedule adaptive` (which hands over once the student does as
well as its teacher, and rolls the teacher in at episode starts until then: for a teacher that never succeeds, at
once and never), the students and the teacher alone on the same held-out episodes.

    python bench/wrong_teacher.py                      # MiniGrid-DoorKey-5x5-v0, 300k env steps, seeds 0 1
    python bench/wrong_teacher.py --task T --texts_from TABLE_TASK --max_env_steps N --seeds 0

The uniform table's texts are those of another task's recorded answers (--texts_from; DoorKey-5x5's objects and
mission are DoorKey-16x16's, whose Gemma 3 270M table ships); a text it lacks is answered by exploring, as with
any table. Prints the sweep's table (results.md in --logdir).
"""
import argparse
import os
import sys

import main
from planner.answer_tables import load_answers, write_task
from planner.live.grammar import candidate_plans
from planner.task_spec import task_config


def uniform_table(task, texts_from, path):
    """Write the uniform teacher's table for `task` to path; returns its number of texts."""
    texts = load_answers(task_config(texts_from))
    answers = {}
    for text in texts:
        plans = candidate_plans(text, "all")
        answers[text] = {"plans": plans, "probs": [1.0 / len(plans)] * len(plans)}
    write_task(str(path), task_config(task)["name"], answers,
               {"planner": "uniform over every candidate plan", "texts_from": texts_from})
    return len(answers)


def run(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="MiniGrid-DoorKey-5x5-v0")
    p.add_argument("--texts_from", default="MiniGrid-DoorKey-16x16-v0")
    p.add_argument("--max_env_steps", type=int, default=300_000)
    p.add_argument("--seeds", nargs="+", default=["0", "1"])
    p.add_argument("--logdir", default="log/wrong_teacher")
    p.add_argument("--num_cpus", default="0")
    args = p.parse_args(argv)
    table = os.path.abspath(os.path.join(args.logdir, "uniform.json"))
    n = uniform_table(args.task, args.texts_from, table)
    print(f"uniform teacher: {n} texts -> {table}", flush=True)
    schedules = os.path.join(os.path.dirname(os.path.abspath(__file__)), "teacher_schedules.json")
    status = main.main(["sweep", "--tasks", args.task, "--variants", "ppo", "llm4teach", "filter", "adaptive",
                        "--variants_file", schedules, "--answers", table, "--max_env_steps", str(args.max_env_steps), "--seeds",
                        *args.seeds, "--logdir", args.logdir, "--num_cpus", args.num_cpus])
    if status == 0:
        with open(os.path.join(args.logdir, "results.md"), encoding="utf-8") as f:
            print(f.read())
    return status


if __name__ == "__main__":
    sys.exit(run())
