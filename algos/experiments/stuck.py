"""Where the teacher alone gets stuck: in each episode it fails, the observation text it spent most of its last steps
on, the plans its planner gives for that text and the actions it took there; failed episodes that ended on the same
text are counted together. The quickest way to see which answer of an LLM (or which option) keeps a task's teacher
from succeeding (docs/tasks.md); `python bench/teacher_stuck.py` prints it."""
from collections import Counter, deque
from dataclasses import dataclass

import numpy as np
from minigrid.core.actions import Actions

import env as env_pkg
from algos.run.episodes import teacher_chooser, teacher_episode
from teacher.config import TeacherConfig
from teacher.policy import TeacherSpec
from planner.task_spec import task_config


@dataclass
class Stuck:
    episodes: int   # failed episodes whose last steps were mostly on this text
    text: str       # the mediator's observation text
    plans: list     # [(plan, probability)]: what the planner answers for it
    actions: list   # [(action name, count)] the teacher took on this text in those last steps, most frequent first


@dataclass
class StuckReport:
    task: str
    episodes: int   # episodes played
    failed: int     # of which not successful (minigrid's reward > 0 never came)
    stuck: list     # [Stuck], most episodes first


def teacher_stuck(task_name, episodes=20, env_seed=2_000_000, window=40, config=None, seed=7):
    """Play `episodes` teacher episodes (env seeds env_seed, env_seed + 1, ...) and report the failed ones by the
    text each spent most of its last `window` steps on. `config`: a TeacherConfig (default: the task's recorded
    answers)."""
    if episodes < 1 or window < 1:
        raise ValueError("episodes and window must be >= 1")
    task = task_config(task_name)
    spec = TeacherSpec(task, config or TeacherConfig())
    env = env_pkg.make_env(task["env_id"])
    planner = spec.make_planner()
    teacher = spec.make_teacher(planner, seed)
    choose = teacher_chooser(np.random.default_rng(seed))
    ends, actions, failed = Counter(), {}, 0
    for i in range(episodes):
        last, success = deque(maxlen=window), False
        for _, action, _, reward, terminated, _ in teacher_episode(env, teacher, choose, env_seed + i):
            last.append((teacher.last_text, action))
            success = terminated and reward > 0
        if success:
            continue
        failed += 1
        text = Counter(t for t, _ in last).most_common(1)[0][0]
        ends[text] += 1
        actions.setdefault(text, Counter()).update(Actions(a).name for t, a in last if t == text)
    stuck = [Stuck(n, text, planner.plans(text), actions[text].most_common()) for text, n in ends.most_common()]
    return StuckReport(task["name"], episodes, failed, stuck)


def markdown(report):
    """The report as a markdown table."""
    lines = [f"{report.task}: the teacher alone failed {report.failed} of {report.episodes} episodes", "",
             "| failed episodes | where it ends (observation text) | the planner's plans | its actions there |",
             "|---|---|---|---|"]
    for s in report.stuck:
        plans = "; ".join(f"{p} ({q:.2f})" for p, q in s.plans)
        acts = ", ".join(f"{a} x{n}" for a, n in s.actions)
        lines.append(f"| {s.episodes} | {s.text} | {plans} | {acts} |")
    return "\n".join(lines)
