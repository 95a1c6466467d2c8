"""Where the teacher alone (or a student, with --loaddir) fails: per task, on held-out episodes, how often it picks
up the key that opens the door (ColoredDoorKey has a second key of another colour), sees the door while holding it,
opens it, or dies in lava, and how many steps each stage takes (mean over the episodes that reach it).

    python bench/teacher_episodes.py                          # the four tasks, 100 episodes each (env seeds 2,000,000+)
    python bench/teacher_episodes.py --tasks TwoDoor --episodes 200
    python bench/teacher_episodes.py --tasks TwoDoor --loaddir log/paper/ppo/TwoDoor/llm4teach-0   # the student acts

With a student the last column is how often its sampled action is the teacher's most likely one. --failed_texts N
lists, per task, the N observation texts the episodes that failed spent most steps on, with the planner's plans for
each (where a teacher loops).
"""
import argparse
import collections

import numpy as np
import torch
from minigrid.core.constants import OBJECT_TO_IDX

import env as env_pkg
from algos.config import Config
from algos.run.episodes import student_chooser, teacher_chooser, teacher_episode
from algos.run.evaluate import load_student
from teacher.policy import TeacherSpec
from utils.bench import run_bench
from planner.task_spec import task_config, task_names

DOOR = OBJECT_TO_IDX["door"]


def episode(env, teacher, choose, seed, agree, texts=None):
    """(steps to pick up the door's key, steps to see the door while holding it, steps to success, steps to an end
    without success before the time limit: lava) of one episode; None for a stage never reached. choose: an
    algos.run.episodes chooser (the teacher's or the student's); agree gets whether each action was the teacher's."""
    door_colours = key_at = door_at = done_at = lost_at = None
    seen = collections.Counter()
    for step, (probs, action, obs, reward, terminated, truncated) in enumerate(
            teacher_episode(env, teacher, choose, seed), 1):
        if door_colours is None:  # the reset has made the grid (doors stay where they are)
            door_colours = {cell.color for cell in env.grid.grid if cell is not None and cell.type == "door"}
        agree.append(action == int(np.argmax(probs)))
        seen[teacher.last_text] += 1
        holding = env.carrying is not None and env.carrying.type == "key" and env.carrying.color in door_colours
        if holding and key_at is None:
            key_at = step
        if holding and door_at is None and (obs[..., 0] == DOOR).any():
            door_at = step
        if terminated or truncated:
            done_at = step if terminated and reward > 0 else None
            lost_at = step if terminated and reward <= 0 else None
    if texts is not None and done_at is None:
        texts.update(seen)
    return key_at, door_at, done_at, lost_at


def stage(values, n):
    reached = [v for v in values if v is not None]
    mean = f"{np.mean(reached):.0f}" if reached else "-"
    return f"{len(reached) / n:.2f} ({mean})"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=task_names())
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--env_seed", type=int, default=2_000_000)
    p.add_argument("--loaddir", help="a student (run folder or checkpoint) acts instead of the teacher")
    p.add_argument("--failed_texts", type=int, default=0, metavar="N",
                   help="list the N texts the failed episodes spent most steps on, with their plans")
    args = p.parse_args(argv)
    print("| task | picks up the door's key (steps) | sees the door holding it (steps) | opens it: success (steps) "
          "| dies in lava (steps) |" + (" student = teacher |" if args.loaddir else ""))
    print("|---|---|---|---|---|" + ("---|" if args.loaddir else ""))
    for name in args.tasks:
        task = task_config(name)
        spec = TeacherSpec(task, Config())
        torch.manual_seed(7)
        teacher = spec.make_teacher(spec.make_planner(), 7)
        choose, agree, mark = teacher_chooser(np.random.default_rng(7)), [], False
        if args.loaddir:
            config = Config(task=task["name"], loaddir=args.loaddir, frame_stack=1)
            model, _, (_, mark) = load_student(config, task, "cpu", given={"frame_stack": 1})
            choose = student_chooser(model, "cpu")
        env = env_pkg.make_env(task["env_id"], mission_mark=mark)  # the student's map as it was trained
        planner, texts = teacher.planner, collections.Counter()
        rows = [episode(env, teacher, choose, args.env_seed + i, agree, texts) for i in range(args.episodes)]
        print(f"| {task['name']} | " + " | ".join(stage([r[k] for r in rows], args.episodes) for k in range(4)) + " |"
              + (f" {np.mean(agree):.2f} |" if args.loaddir else ""), flush=True)
        failed_steps = sum(texts.values())
        for text, n in texts.most_common(args.failed_texts):
            plans = "; ".join(f"{plan} ({p:.2f})" for plan, p in planner.plans(text) or [])
            print(f"|   {n / max(failed_steps, 1):.0%} of the failed episodes' steps | {text} | {plans} |")


if __name__ == "__main__":
    run_bench(main)
