"""How many observation texts a task shows its teacher, and how the visits spread over them (issue 63: a live LLM
teacher asks once per distinct text, so its cost follows this count). `python bench/texts.py` prints it.

A text is exactly what the planner is asked: TeacherPolicy's mediator text of an observation (teacher/policy.py),
counted by its id (teacher.policy.text_id) as algos/vec_env/env_group.py writes it into the pool's "text" array
for every observation the teacher describes: each env's first, then one per env step (the next episode's first
where an episode ended). Three sources:

    random_walk(task, steps)        uniformly random actions in an EnvGroup (the training envs' own code path)
    training_texts(task, steps)     a run of the project's Trainer, its pool's text ids counted after every reset
                                    and step; by default with a teacher that has no answer yet (every sample
                                    untaught, so the student learns as plain PPO: what a live LLM teacher from an
                                    empty plan cache faces), or taught by a recorded-answer table (llm4teach)
    live_llm_progress(run_dir)      a finished or running live-LLM run's metrics.csv: the texts asked and answered
                                    and the taught share over env steps (algos.experiments.run_files.read_metrics)
"""
import dataclasses
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from algos.experiments.run_files import read_metrics
from algos.vec_env.env_group import EnvGroup
from planner.base import Planner
from planner.task_spec import task_config
from teacher.config import TeacherConfig
from teacher.policy import TeacherSpec

TOPS = (10, 100, 1000)          # coverage of the k most frequent texts
SHARES = (0.5, 0.8, 0.95)       # the fewest texts that cover this share of the visits
GROWTH = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000)
PAPER_TASKS = ("SimpleDoorKey", "LavaDoorKey", "ColoredDoorKey", "TwoDoor")
MANY_TEXT_TASKS = ("MiniGrid-LockedRoom-v0", "MiniGrid-ObstructedMaze-2Dlh-v0", "MiniGrid-MultiRoom-N4-S5-v0",
                   "BabyAI-GoToObjMaze-v0")
DEFAULT_TASKS = PAPER_TASKS + MANY_TEXT_TASKS


class Unanswered(Planner):
    """A planner with no answer for any text yet (a live LLM that has answered nothing): the teacher describes every
    observation (its text id is written) and teaches nothing."""

    def plans(self, text):
        return None


@dataclass
class UnansweredSpec(TeacherSpec):
    """A TeacherSpec whose teachers' planner is Unanswered (picklable, for worker processes too)."""

    def make_planner(self):
        return Unanswered()


@dataclass
class TextCounts:
    task: str
    source: str                  # "random walk" | "training: ..." (what produced the visits)
    env_steps: int               # env steps taken
    episodes: int                # episodes that ended
    visits: int                  # observations described (env_steps + each env's first; resets at iterations too)
    distinct: int                # distinct texts among them
    coverage: dict               # k -> share of the visits on the k most frequent texts (TOPS)
    needed: dict                 # share -> the fewest texts covering it (SHARES)
    once: int                    # texts visited once
    growth: list                 # [(env steps, distinct texts so far)] at GROWTH's steps (and the end)
    seconds: float
    top: list = field(default_factory=list)   # [(text, visits)], most frequent first (where the texts are known)
    untexted: int = 0            # visits without a text (the teacher off: a coefficient of 0 in training)


def summary(counts):
    """(coverage, needed, once) of a Counter of text -> visits."""
    visits = np.sort(np.fromiter(counts.values(), dtype=np.int64, count=len(counts)))[::-1]
    total = int(visits.sum())
    cum = np.cumsum(visits)
    coverage = {k: (float(cum[min(k, len(cum)) - 1]) / total if total else 0.0) for k in TOPS}
    needed = {s: int(np.searchsorted(cum, s * total - 1e-9 * total) + 1) if total else 0 for s in SHARES}
    return coverage, needed, int((visits == 1).sum())


class TextTally:
    """Counts text ids (a pool's or group's "text" array) as visits; 0 (no text: the teacher off) apart."""

    def __init__(self):
        self.counts = Counter()
        self.untexted = 0
        self.growth = []
        self._next = 0

    def add(self, ids):
        ids = np.asarray(ids)
        self.untexted += int((ids == 0).sum())
        self.counts.update(ids[ids != 0].tolist())

    def mark(self, env_steps, force=False):
        """Note the distinct texts so far where env_steps passed the next GROWTH mark (or `force`)."""
        while self._next < len(GROWTH) and env_steps >= GROWTH[self._next]:
            self.growth.append((GROWTH[self._next], len(self.counts)))
            self._next += 1
        if force and (not self.growth or self.growth[-1][0] != env_steps):
            self.growth.append((int(env_steps), len(self.counts)))

    def result(self, task, source, env_steps, episodes, seconds, texts=None, top=10):
        self.mark(env_steps, force=True)
        coverage, needed, once = summary(self.counts)
        common = self.counts.most_common(top) if texts is not None else []
        return TextCounts(task, source, int(env_steps), int(episodes), sum(self.counts.values()) + self.untexted,
                          len(self.counts), coverage, needed, once, self.growth, seconds,
                          [(texts.get(i, "?"), n) for i, n in common], self.untexted)


def random_walk(task_name, steps=50_000, n_envs=4, seed=0, top=10, texts="full"):
    """TextCounts of uniformly random actions (of MiniGrid's 7) in n_envs envs of the task (env seeds seed,
    seed + 1, ...; episodes end as the task ends them) until `steps` env steps (rounded up to a multiple of
    n_envs), every observation described by the task's teacher (its full or reduced texts: --teacher_texts)."""
    if steps < 1 or n_envs < 1:
        raise ValueError("steps and n_envs must be >= 1")
    task = task_config(task_name)
    spec = UnansweredSpec(task, TeacherConfig(teacher_texts=texts))
    group = EnvGroup(task["env_id"], [seed + i for i in range(n_envs)], [seed + i for i in range(n_envs)], spec)
    rng = np.random.default_rng(seed)
    tally, texts_of, episodes, done = TextTally(), {}, 0, 0
    arr = group.arrays
    start = time.perf_counter()

    def note():
        tally.add(arr["text"])
        for i, t in enumerate(group.teachers):
            texts_of.setdefault(int(arr["text"][i]), t.last_text)
    try:
        group.reset()
        note()
        while done < steps:
            group.step(rng.integers(0, 7, n_envs))
            note()
            episodes += int((arr["terminated"] | arr["truncated"]).sum())
            done += n_envs
            tally.mark(done)
    finally:
        group.close()
    source = "random walk" if texts == "full" else f"random walk, {texts} texts"
    return tally.result(task["name"], source, done, episodes, time.perf_counter() - start, texts_of, top)


class CountingPool:
    """An EnvPool whose text ids are counted (a TextTally) after every reset and step; everything else is the
    pool's own."""

    def __init__(self, pool, tally):
        self.pool, self.tally = pool, tally
        self.env_steps = self.episodes = 0

    def __getattr__(self, name):
        return getattr(self.pool, name)

    def reset(self, seeds=None):
        out = self.pool.reset(seeds)
        self.tally.add(self.pool.arrays["text"])
        return out

    def step(self, actions):
        out = self.pool.step(actions)
        arr = self.pool.arrays
        self.tally.add(arr["text"])
        self.env_steps += self.pool.n
        self.episodes += int((arr["terminated"] | arr["truncated"]).sum())
        self.tally.mark(self.env_steps)
        return out


def training_config(task_name, steps, answers=None, num_envs=16, seed=0, logdir=None, **overrides):
    """The Config of training_texts: the project's defaults (llm4teach's paper schedule, PPO), `steps` env steps,
    envs in this process, no evaluations, videos or periodic checkpoints."""
    from algos.config import Config
    config = Config(task=task_name, seed=seed, max_env_steps=int(steps), num_envs=num_envs, workers=0,
                    eval_interval=0, save_interval=0, save_minutes=0.0, video=0, no_progress=True,
                    logdir=logdir or "log", savedir="texts", answers=answers or "default", **overrides)
    config.validate()
    return config


def training_texts(task_name, steps=20_000, answers=None, num_envs=16, seed=0, **overrides):
    """TextCounts of the observations a training run's envs showed its teacher over `steps` env steps (the
    project's Trainer, CPU, in a temporary run folder). answers None: a teacher with no answer yet (Unanswered:
    every sample untaught, the student learns as plain PPO); a table name (as train's --answers): that recorded
    table teaches (llm4teach). Visits while the teacher coefficient is 0 have no text (counted as untexted)."""
    from algos.run.trainer import Trainer
    task = task_config(task_name)
    with tempfile.TemporaryDirectory(prefix="texts-") as logdir:
        config = training_config(task["name"], steps, answers, num_envs, seed, logdir, **overrides)
        run_dir = os.path.join(logdir, "run")
        os.makedirs(run_dir)
        if answers is None:
            spec, source = UnansweredSpec(task, config), "training: a teacher with no answers (plain PPO's learning)"
        else:
            spec = TeacherSpec(task, config, has_teacher=config.has_teacher())
            source = f"training: llm4teach, answers {answers}"
        tally = TextTally()
        trainer = Trainer(config, run_dir, spec, "cpu")
        start = time.perf_counter()
        try:
            trainer.pool = pool = CountingPool(trainer.pool, tally)
            trainer.train()
        finally:
            if isinstance(trainer.pool, CountingPool):
                trainer.pool = trainer.pool.pool
            trainer.close()
        if config.teacher_texts == "reduced":
            source += ", reduced texts"
        return tally.result(task["name"], source, pool.env_steps, pool.episodes, time.perf_counter() - start)


# -- a live LLM run's own record ---------------------------------------------------------------------------------

LIVE_COLUMNS = {"asked": "LLM/submitted",      # texts handed to the asker threads (--llm_wait never)
                "answered": "LLM/landed",      # of which answered (by the LLM or the shared plan cache)
                "waiting": "LLM/pending",      # asked, not answered yet
                "llm_queries": "LLM/queries",  # texts the LLM itself was asked (plan cache misses)
                "taught_share": "Teacher/Taught Share"}


@dataclass
class LiveRow:
    env_steps: int
    asked: int = None
    answered: int = None
    waiting: int = None
    llm_queries: int = None
    taught_share: float = None   # the mean over the iterations since the previous row


def _number(value):
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def live_llm_progress(run_dir, marks=GROWTH):
    """[LiveRow] of a live-LLM run (its metrics.csv, read by algos.experiments.run_files.read_metrics): at each of
    `marks` the run passed and at its last row, the planner's latest counters (logged at evaluations) and the mean
    taught share of the iterations since the previous row. Columns the run does not log stay None."""
    rows = read_metrics(run_dir)
    out, shares, latest = [], [], {}
    marks = list(marks)
    for n, row in enumerate(rows):
        steps = _number(row.get("env_steps"))
        if steps is None:
            continue
        for key, column in LIVE_COLUMNS.items():
            v = _number(row.get(column))
            if v is None:
                continue
            if key == "taught_share":
                shares.append(v)
            else:
                latest[key] = int(v)
        last = n == len(rows) - 1
        passed = False
        while marks and steps >= marks[0]:
            marks.pop(0)
            passed = True
        if passed or last:
            out.append(LiveRow(int(steps), taught_share=float(np.mean(shares)) if shares else None, **latest))
            shares = []
    return out


def as_json(result):
    """A TextCounts or LiveRow as plain data (dict keys as strings)."""
    data = dataclasses.asdict(result)
    for key in ("coverage", "needed"):
        if key in data:
            data[key] = {str(k): v for k, v in data[key].items()}
    return data
