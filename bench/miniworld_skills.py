"""What a MiniWorld teacher does, step by step (issue 61: why its pixel students stay below it): the teacher alone
on held-out episodes (env seeds 2,000,000+, recorded answers), per step the skill that gave its action and, for
go to / pick up / drop, whether that object is in the camera's view now (what the student's image can explain);
and the teacher's own entropy per step with every plan weighted by its probability (the floor of the student's
cross-entropy to it, Train/Teacher KL). With --loaddir a trained student drives (sampling, as the evaluation) and the
teacher only advises on the student's states; printed besides: the driver's actions, the steps where no object is in
the camera's view, pick ups that took nothing, what it picked up, the steps holding an object (by the teacher's
advice) and, of those where go to's target is in the camera's field, how many show none of it (hidden behind the
object held), how often the driver did the teacher's most likely action, the steps per object collected, and the
objects collected of each kind. Last, per object kind, how near the camera still draws it straight ahead and how far
pick up reaches it (centre distances): the steps between are taken blind; and how near an object straight ahead is
hidden entirely behind an object carried (PutNext: the yellow box behind the red one).

    python bench/miniworld_skills.py --tasks MiniWorld-PickupObjects-v0 MiniWorld-PutNext-v0 --episodes 4
    python bench/miniworld_skills.py --tasks MiniWorld-PickupObjects-v0 --episodes 10 --loaddir RUN
"""
import argparse
from collections import Counter

import numpy as np
import torch

from algos.vec_env.frame_stack import first_frames, push_frame
from env import miniworld as mw
from planner.base import RecordedPlanner
from planner.answer_tables import load_answers
from planner.task_spec import task_config
from teacher.config import TeacherConfig
from teacher.policy import TeacherSpec
from utils.bench import run_bench
from utils.errors import UserError
from utils.machine import machine_line


def student(task_id, loaddir):
    """(a chooser for the student saved in loaddir (algos/run/episodes.py), its --frame_stack)."""
    from algos.config import Config
    from algos.run.episodes import student_chooser
    from algos.run.evaluate import load_student
    model, _, (frame_stack, _) = load_student(Config(task=task_id, loaddir=loaddir, device="cpu"),
                                              task_config(task_id), torch.device("cpu"), {})
    return student_chooser(model, torch.device("cpu")), frame_stack


def skills(task_id, episodes, loaddir=None):
    """(Counter of (skill, target in view) over the steps, reward per episode, mean entropy of the soft teacher on
    the same steps, Counter of the driver's figures, Counter of (object kind, collected) over the episodes' objects)."""
    task = task_config(task_id)
    planner = RecordedPlanner(load_answers(task, "default"))
    env = mw.make_miniworld(task_id)
    hard = TeacherSpec(task).make_teacher(planner, 0)
    soft = TeacherSpec(task, TeacherConfig(soft_planner=True)).make_teacher(planner, 0)
    skill, used, aims = hard.skill, [], []

    def recording(env, named, carried, kind, target):
        action = skill(env, named, carried, kind, target)
        if action is not None and not used:
            ents = [e for e in named.get(target, []) if e is not env.agent.carrying] or named.get(target, [])
            searching = target in hard.searching  # go to's turn to find a target out of view
            aimed = next((e for e in ents if e is hard.aims.get(target)), None) or (ents and hard.nearest(env, ents))
            used.append(("search" if searching else kind, None if searching or not ents else mw.in_view(env, aimed)))
            aims.append(aimed)
        return action

    hard.skill = recording
    counts, reward, entropy, driver, names = Counter(), 0.0, [], Counter(), {int(a): a.name for a in env.actions}
    by_kind = Counter()
    choose, frame_stack = student(task_id, loaddir) if loaddir else (None, 1)
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=2_000_000 + i)
            stack = first_frames(obs, frame_stack)
            torch.manual_seed(2_000_000 + i)
            hard.begin(env)
            soft.begin(env)
            done, step, last = False, 0, 0
            start = {id(e): kind for kind, _, e in mw.objects(env)}
            while not done:
                used.clear()
                aims.clear()
                p = np.asarray(soft.teach(env))
                q = p[p > 0]
                entropy.append(float(-(q * np.log(q)).sum()))
                advised = int(np.argmax(hard.teach(env)))
                counts[used[0] if used else ("wait", None)] += 1
                action = advised if choose is None else int(choose(stack[None], None, np.array([step == 0]))[0])
                driver["no object in view"] += not any(mw.in_view(env, e) for _, _, e in mw.objects(env))
                if env.unwrapped.agent.carrying is not None:
                    driver[f"holding, advice {used[0][0] if used else 'wait'}"] += 1
                if env.unwrapped.agent.carrying is not None and used and used[0] == ("goto", True):
                    driver["holding, go to's target in view"] += 1
                    driver["holding, go to's target in view but not drawn"] += not drawn(env.unwrapped, aims[0])
                held = env.unwrapped.agent.carrying
                obs, r, terminated, truncated, _ = env.step(action)
                now = env.unwrapped.agent.carrying
                if now is not None and now is not held:
                    kind = next(k for k, _, e in mw.objects(env) if e is now)
                    driver[f"took the {mw.colour_of(now) or ''} {kind}".replace("  ", " ")] += 1
                driver["steps holding an object"] += now is not None
                stack = obs if frame_stack == 1 else push_frame(stack, obs)
                driver[f"action {names[action]}"] += 1
                driver["the teacher's most likely action"] += action == int(np.argmax(p))
                driver["pick up, nothing taken"] += action == int(env.actions.pickup) and r <= 0
                if r > 0:
                    driver["objects"], driver["steps to them"], last = driver["objects"] + 1, \
                        driver["steps to them"] + step + 1 - last, step + 1
                reward += r
                step += 1
                done = terminated or truncated
            left = {id(e) for _, _, e in mw.objects(env)}
            by_kind.update((kind, ident not in left) for ident, kind in start.items())
    finally:
        env.close()
    return counts, reward / episodes, float(np.mean(entropy)), driver, by_kind


def drawn(u, ent):
    """Whether any pixel of `ent` is in the agent's image now (the image without it differs)."""
    shown = u.render_obs().astype(np.int16)
    place, ent.pos = ent.pos, np.array([1e3, 0.0, 1e3])
    try:
        return bool((np.abs(shown - u.render_obs().astype(np.int16)).sum(-1) > 30).any())
    finally:
        ent.pos = place


def blind_zone(task_id, step=0.05):
    """{kind: (the nearest distance at which the camera draws it straight ahead, the farthest at which pick up takes
    it)}: each kind of the task's first held-out episode alone on the floor, ahead of the agent facing along the room,
    at distances from 0.3 m in `step`s; drawn = any pixel differs from the same view without it."""
    env = mw.make_miniworld(task_id)
    try:
        env.reset(seed=2_000_000)
        u, a = env.unwrapped, env.unwrapped.agent
        ents = {kind: e for kind, _, e in mw.objects(env)}
        away = np.array([1e3, 0.0, 1e3])
        for e in ents.values():
            e.pos = away.copy()
        a.pos, a.dir = np.array([u.min_x + 1.0, 0.0, (u.min_z + u.max_z) / 2]), 0.0
        out = {}
        for kind, e in ents.items():
            nearest, reach = float("inf"), 0.0
            for d in np.arange(0.3, u.max_x - u.min_x - 2.0, step):
                e.pos = a.pos + np.array([d, 0.0, 0.0])
                if d < nearest and drawn(u, e):
                    nearest = d
                if mw.in_reach(u, e):
                    reach = d
            e.pos = away.copy()
            out[kind] = (nearest, reach)
        return out
    finally:
        env.close()


def carried_blind(task_id, step=0.05):
    """(carried name, target name, the farthest distance at which the target straight ahead is hidden entirely while
    the agent carries the other, the distance at which the two touch), centre distances from the agent: the task's
    first two named objects (else its first two) of its first held-out episode, alone on the floor; None where pick
    up does not carry (PickupObjects collects)."""
    task = task_config(task_id)
    env = mw.make_miniworld(task_id)
    try:
        env.reset(seed=2_000_000)
        u, a = env.unwrapped, env.unwrapped.agent
        found = mw.objects(env)
        order = [f"{c} {k}" if c else k for k, c, _ in found]
        named = [n for n in task.get("named", []) if n in order]
        pair = [found[order.index(n)] for n in named[:2]] if len(named) >= 2 else found[:2]
        (carried_kind, carried_colour, carried), (target_kind, target_colour, target) = pair
        away = np.array([1e3, 0.0, 1e3])
        for _, _, e in found:
            e.pos = away.copy()
        a.pos, a.dir = np.array([u.min_x + 1.0, 0.0, (u.min_z + u.max_z) / 2]), 0.0
        carried.pos = a.pos + a.dir_vec * (a.radius + carried.radius + 0.05)
        u.step(u.actions.pickup)
        if a.carrying is not carried:
            return None
        touch = float(np.linalg.norm((carried.pos - a.pos)[[0, 2]])) + carried.radius + target.radius
        hidden = touch
        for d in np.arange(touch, u.max_x - u.min_x - 2.0, step):
            target.pos = a.pos + np.array([d, 0.0, 0.0])
            if drawn(u, target):
                break
            hidden = d
        return (" ".join(filter(None, (carried_colour, carried_kind))),
                " ".join(filter(None, (target_colour, target_kind))), hidden, touch)
    finally:
        env.close()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=["MiniWorld-PickupObjects-v0", "MiniWorld-PutNext-v0"])
    p.add_argument("--episodes", type=int, default=4)
    p.add_argument("--loaddir", default=None, help="a trained student (run folder or checkpoint) drives")
    args = p.parse_args(argv)
    if args.episodes < 1:
        raise UserError("--episodes must be >= 1")
    print(machine_line())
    for task_id in args.tasks:
        torch.set_num_threads(1)
        counts, reward, entropy, driver, by_kind = skills(task_id, args.episodes, args.loaddir)
        total = sum(counts.values())
        shares = ", ".join(f"{kind}{'' if seen is None else (' (in view)' if seen else ' (out of view)')} "
                           f"{n / total:.2f}" for (kind, seen), n in counts.most_common())
        who = f"the student {args.loaddir} driving" if args.loaddir else "the teacher driving"
        print(f"{task_id}: {who}, {args.episodes} episodes, {total} steps, reward per episode {reward:.2f}, "
              f"soft teacher entropy {entropy:.2f} nats/step; the teacher's advice: {shares}", flush=True)
        steps_to, objects = driver.pop("steps to them", 0), driver.pop("objects", 0)
        per_object = steps_to / objects if objects else float("nan")
        collected = ", ".join(f"{k} {by_kind[k, True]} of {by_kind[k, True] + by_kind[k, False]}"
                              for k in sorted({kind for kind, _ in by_kind}))
        print("  the driver: " + ", ".join(f"{k} {n / total:.2f}" for k, n in sorted(driver.items())) +
              f"; steps per object collected {per_object:.1f}" +
              (f"; collected by kind: {collected}" if any(got for _, got in by_kind) else ""), flush=True)
        print("  straight ahead, centre distances: " + "; ".join(
            f"{kind} drawn down to {drawn:.1f} m, picked up from {reach:.1f} m" for kind, (drawn, reach) in
            sorted(blind_zone(task_id).items())), flush=True)
        blind = carried_blind(task_id)
        if blind is not None:
            carried, target, hidden, touch = blind
            print(f"  carrying a {carried}, a {target} straight ahead is hidden behind it from {hidden:.1f} m down to "
                  f"{touch:.1f} m, where the two touch", flush=True)
    return 0


if __name__ == "__main__":
    run_bench(main)
