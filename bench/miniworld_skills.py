"""What a MiniWorld teacher does, step by step (issue 61: why its pixel students stay below it): the teacher alone
on held-out episodes (env seeds 2,000,000+, recorded answers), per step the skill that gave its action and, for
go to / pick up / drop, whether that object is in the camera's view now (what the student's image can explain);
and the teacher's own entropy per step with every plan weighted by its probability (the floor of the student's
cross-entropy to it, Train/Teacher KL).

    python bench/miniworld_skills.py --tasks MiniWorld-PickupObjects-v0 MiniWorld-PutNext-v0 --episodes 4
"""
import argparse
from collections import Counter

import numpy as np

from env import miniworld as mw
from planner.base import RecordedPlanner
from planner.answer_tables import load_answers
from planner.task_spec import task_config
from teacher.config import TeacherConfig
from teacher.policy import TeacherSpec
from utils.bench import run_bench
from utils.errors import UserError
from utils.machine import machine_line


def skills(task_id, episodes):
    """(Counter of (skill, target in view) over the steps, reward per episode, mean entropy of the soft teacher on
    the same steps)."""
    task = task_config(task_id)
    planner = RecordedPlanner(load_answers(task, "default"))
    env = mw.make_miniworld(task_id)
    hard = TeacherSpec(task).make_teacher(planner, 0)
    soft = TeacherSpec(task, TeacherConfig(soft_planner=True)).make_teacher(planner, 0)
    skill, used = hard.skill, []

    def recording(env, named, carried, kind, target):
        action = skill(env, named, carried, kind, target)
        if action is not None and not used:
            ents = [e for e in named.get(target, []) if e is not env.agent.carrying] or named.get(target, [])
            used.append((kind, mw.in_view(env, hard.nearest(env, ents)) if ents else None))
        return action

    hard.skill = recording
    counts, reward, entropy = Counter(), 0.0, []
    try:
        for i in range(episodes):
            env.reset(seed=2_000_000 + i)
            hard.begin(env)
            soft.begin(env)
            done = False
            while not done:
                used.clear()
                p = np.asarray(soft.teach(env))
                q = p[p > 0]
                entropy.append(float(-(q * np.log(q)).sum()))
                action = int(np.argmax(hard.teach(env)))
                counts[used[0] if used else ("wait", None)] += 1
                _, r, terminated, truncated, _ = env.step(action)
                reward += r
                done = terminated or truncated
    finally:
        env.close()
    return counts, reward / episodes, float(np.mean(entropy))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=["MiniWorld-PickupObjects-v0", "MiniWorld-PutNext-v0"])
    p.add_argument("--episodes", type=int, default=4)
    args = p.parse_args(argv)
    if args.episodes < 1:
        raise UserError("--episodes must be >= 1")
    print(machine_line())
    for task_id in args.tasks:
        counts, reward, entropy = skills(task_id, args.episodes)
        total = sum(counts.values())
        shares = ", ".join(f"{kind}{'' if seen is None else (' (in view)' if seen else ' (out of view)')} "
                           f"{n / total:.2f}" for (kind, seen), n in counts.most_common())
        print(f"{task_id}: {args.episodes} episodes, {total} steps, reward per episode {reward:.2f}, "
              f"soft teacher entropy {entropy:.2f} nats/step; {shares}", flush=True)
    return 0


if __name__ == "__main__":
    run_bench(main)
