"""How closely two teachers of one task agree on the same observations (issue 63: the teacher asked reduced texts
against the per-text teacher asked every full text). `python bench/reduced_texts.py` prints it.

Episodes are driven by teacher A (its most likely action, ties to the lowest, as the teacher-alone evaluation);
on every observation of them both teachers give their action distribution (soft: every plan weighted by its
probability, so the distributions are the teachers', not one draw). Per step: whether their most likely actions
agree, and the total variation distance between the distributions (0: equal, 1: disjoint). Both planners are the
task's own (a live LLM answers every text it is shown, blocking; the plan caches keep the answers).
"""
from dataclasses import dataclass, field, replace

import numpy as np

import env as env_pkg
from teacher.policy import TeacherSpec


@dataclass
class Agreement:
    task: str
    episodes: int
    steps: int                 # observations both teachers were asked about
    successes: int             # of teacher A's episodes
    same_action: float         # share of the steps where the most likely actions are the same
    mean_tv: float             # mean total variation distance between the two distributions
    texts_a: int               # distinct texts each teacher was shown on these steps
    texts_b: int
    stats_a: dict = field(default_factory=dict)   # each planner's counters (e.g. LLM queries, texts guessed)
    stats_b: dict = field(default_factory=dict)


def agreement(task, config_a, config_b, seeds, task_dir=None):
    """Agreement of the teachers of two TeacherConfigs (A drives) on one episode per env seed."""
    config_a, config_b = replace(config_a, soft_planner=True), replace(config_b, soft_planner=True)
    teachers, planners = [], []
    for config in (config_a, config_b):
        spec = TeacherSpec(task, config, task_dir)
        planners.append(spec.make_planner())
        teachers.append(spec.make_teacher(planners[-1], 0))
    env = env_pkg.make_env(task["env_id"])
    steps = successes = same = 0
    tv = 0.0
    texts = (set(), set())
    try:
        for seed in seeds:
            obs, _ = env.reset(seed=int(seed))
            for t in teachers:
                t.begin(env)
            while True:
                a, b = (t.teach(env, obs) for t in teachers)
                for seen, t in zip(texts, teachers):
                    seen.add(t.last_text)
                steps += 1
                same += int(np.argmax(a) == np.argmax(b))
                tv += 0.5 * float(np.abs(np.asarray(a) - np.asarray(b)).sum())
                obs, _, terminated, truncated, info = env.step(int(np.argmax(a)))
                if terminated or truncated:
                    successes += int(bool(info.get("success", False)))
                    break
    finally:
        env.close()
        stats = [p.stats() for p in planners]
        for p in planners:
            p.close()
    return Agreement(task["name"], len(seeds), steps, successes, same / max(1, steps), tv / max(1, steps),
                     len(texts[0]), len(texts[1]), *stats)


def pooled(a, b):
    """(same most likely action, mean total variation) over the steps of two Agreements (each teacher driving)."""
    steps = max(1, a.steps + b.steps)
    return ((a.same_action * a.steps + b.same_action * b.steps) / steps,
            (a.mean_tv * a.steps + b.mean_tv * b.steps) / steps)
