"""The teacher: observation -> probability vector over the 7 MiniGrid actions.

text = mediator(obs); plans = planner.plans(text); each plan is a list of options (explore, go to, pick up, drop,
open, wait) walked in order until one yields an action (none: done); the options are hand-written policies.
Call reset(mission) at every episode start. Hard mode samples one plan per step (one-hot output); soft mode
weights every plan's action by the plan's probability.

Two option styles (a task's "options" in configs/tasks.json): "official", as the official LLM4Teach code (go to
may cross lava, explore walks straight on while unseen space lies ahead, drop where the agent stands), kept for
the four paper tasks; "careful" (every other task): go to never steps into lava, explore always takes the
shortest way to the nearest pose that reveals unseen space (with views wider than 3, "unseen space ahead" can lie
far to the side, and walking on can go back and forth), and drop first walks to a cell where the object blocks
nothing.
"""
import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from minigrid.core.actions import Actions

from teacher.mediator import Mediator, agent_state, parse_plan, restore_colours
from teacher.config import TeacherConfig
from teacher.navigation import DIRS, DROP_LEVELS, EMPTY, FORWARD, GOAL, Paths, free_drop_cells, walkable_cells

N_ACTIONS = len(Actions)
PICKUP, DROP, TOGGLE, DONE = int(Actions.pickup), int(Actions.drop), int(Actions.toggle), int(Actions.done)
WAIT = DONE  # the wait option: minigrid's `done`, which changes nothing in these tasks
PRIMITIVE = {"pickup": PICKUP, "drop": DROP, "toggle": TOGGLE}


def text_id(text):
    """A stable nonzero 63-bit id of an observation text, the same in every process and run (0 means no text)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1 or 1


class OptionPolicies:
    """Option -> action for one observation. `paths` is the shortest-path engine (teacher.navigation.Paths; the
    tests pass their plain-array oracle with the same interface)."""

    def __init__(self, goto_through_lava=True, paths=None, careful=False):
        self.goto_through_lava = goto_through_lava
        self.careful = careful
        self.paths = paths if paths is not None else Paths()

    def explore(self, obs, agent):
        """Like the official explore, walk straight on while unseen space lies ahead (not when careful);
        otherwise take the shortest way to the nearest pose that reveals unseen space (instead of the official
        local turning rules, which can turn back and forth forever). Finished when nothing unseen is left to
        reveal."""
        x, y, d = agent
        kind = obs[:, :, 0].copy()
        kind[x, y] = EMPTY  # the agent's own cell (maybe showing what it carries) is open floor
        view = self.paths.explore(kind, obs[:, :, 2])
        if not view.anything_left():
            return "done"
        fx, fy = DIRS[d]
        w, h = view.walk.shape
        if not self.careful and view.ahead(x, y, d) and 0 <= x + fx < w and 0 <= y + fy < h \
                and view.walk[x + fx, y + fy]:
            return FORWARD
        action = view.first_action(agent)
        return "done" if action in ("done", None) else action

    def goto(self, obs, agent, target):
        """Next to the target and facing it; onto it for a goal (where the episode ends). None if there is no
        known way (careful: explore for one first)."""
        walk = walkable_cells(obs[:, :, 0], obs[:, :, 2], lava_ok=self.goto_through_lava)
        walk[agent[0], agent[1]] = True  # the agent's own cell is always walkable
        if obs[target[0], target[1], 0] == GOAL:
            cells = np.zeros(walk.shape, dtype=bool)
            cells[target] = True
            action = self.paths.goto_cells(walk, cells, onto=True).first_action(agent)
        else:
            action = self.paths.goto(walk, target).first_action(agent)
        if action is None and self.careful:  # no known way there yet: look for one
            action = self.explore(obs, agent)
            return None if action == "done" else action
        return action

    def drop(self, obs, agent):
        """Careful drop: drop onto the cell ahead if the object blocks nothing there, else walk to face such a
        cell; where none is reachable, any known empty cell not next to a door, then any known empty cell (none
        reachable at all: drop here)."""
        x, y, d = agent
        kind, state = obs[:, :, 0], obs[:, :, 2]
        fx, fy = x + DIRS[d][0], y + DIRS[d][1]
        ahead = 0 <= fx < kind.shape[0] and 0 <= fy < kind.shape[1]
        walk = walkable_cells(kind, state, lava_ok=False)
        walk[x, y] = True
        for level in DROP_LEVELS:
            free = free_drop_cells(kind, state, (x, y), level)
            if ahead and free[fx, fy]:
                return DROP
            action = self.paths.goto_cells(walk, free).first_action(agent)
            if action not in ("done", None):
                return action
        return DROP

    def act(self, obs, agent, option, description):
        """First action of `option` now. Unknown objects (never seen, or not an object) make the option wait."""
        kind, target = option
        if kind == "explore":
            return self.explore(obs, agent)
        if kind == "wait" or target is None:
            return WAIT
        if target not in description.objects and target != description.carried:
            return WAIT
        if kind == "goto":
            if target == description.carried:  # already holding it: nothing to walk to
                return "done"
            return self.goto(obs, agent, description.objects[target])
        if kind == "drop" and self.careful:
            return self.drop(obs, agent) if target == description.carried else "done"
        return PRIMITIVE[kind]


def sample_actions(probs, rng_or_random):
    """An index drawn from each distribution of `probs`: an action from each row of a teacher array (n_envs, 7), or
    a plan from a list or tuple of plan probabilities (one distribution). Inverse CDF with one uniform number r in
    [0, 1) per distribution: the index is how many of its cumulative sums lie below r x its total (at most n - 1).
    rng_or_random: a numpy Generator (or np.random) whose random(size) gives the numbers, or such a function itself
    (e.g. np.random.random), called once: size probs.shape[:-1] + (1,) for an array, None (a float) for a list.
    Returns int64 indices of shape probs.shape[:-1] (an int for a list); -1 for a distribution summing to ~0 (no
    teacher: a live LLM still asking)."""
    draw = rng_or_random.random if hasattr(rng_or_random, "random") else rng_or_random
    if isinstance(probs, (list, tuple)):  # a plan at every teacher step: the same arithmetic on floats, ~2x faster
        cum = list(itertools.accumulate(probs))
        u = draw(None) * cum[-1]
        return min(sum(u > c for c in cum), len(cum) - 1) if cum[-1] > 0.5 else -1
    cum = np.asarray(probs).cumsum(-1)
    total = cum[..., -1:]
    u = draw(total.shape) * total
    index = np.minimum((u > cum).sum(-1), cum.shape[-1] - 1)
    return np.where(total[..., 0] > 0.5, index, -1)


class TeacherPolicy:
    def __init__(self, planner, object_names, soft=False, rng=None, goto_through_lava=True, paths=None,
                 careful=False, full_names=None):
        self.planner = planner
        self.mediator = Mediator(object_names)
        # reduced texts: the full text of every observation taught is counted too (the texts taught that the LLM
        # was never asked itself: generalised by the reduction)
        self.full = Mediator(full_names) if full_names else None
        self.full_taught = set()
        self.soft = soft
        self.rng = rng if rng is not None else np.random.default_rng()
        self.options = OptionPolicies(goto_through_lava=goto_through_lava, paths=paths, careful=careful)
        self.last_text = None
        self.last_text_id = 0  # text_id(last_text)
        self._ids = {}  # text -> text_id(text)
        self._weights = {}  # text -> its plans' probabilities (a text's plans are fixed for a run)

    def reset(self, mission=None):
        """Start of an episode: forget the mediator's object order; `mission` is the episode's mission text (the
        env's `mission`), shown to the planner where the task's naming rule says so."""
        self.mediator.reset(mission)
        if self.full is not None:
            self.full.reset(mission)

    # the world interface (teacher/miniworld_teacher.py has the same two): an episode begins; teach one step
    def begin(self, env):
        self.reset(env.mission)

    def teach(self, env, obs):
        return self(obs, (env.agent_pos[0], env.agent_pos[1], env.agent_dir))

    def plan_action(self, obs, agent, description, plan):
        for option in parse_plan(restore_colours(plan, description.colour_map)):
            action = self.options.act(obs, agent, option, description)
            if action is not None and action != "done":
                return action
        return DONE

    def __call__(self, obs, agent=None):
        """Distribution over the 7 actions for a memory observation; `agent` = (x, y, direction) if the caller
        knows it (it is read from the observation otherwise). None when the planner has no answer for the
        observation's text yet (a non-blocking live LLM still asking)."""
        agent = agent_state(obs) if agent is None else (int(agent[0]), int(agent[1]), int(agent[2]))
        description = self.mediator.describe(obs, agent)
        self.last_text = text = description.text
        self.last_text_id = self._ids.get(text) or self._ids.setdefault(text, text_id(text))
        plans = self.planner.plans(description.text)
        if self.full is not None:  # described every step (its object order follows the episode, as the mediator's)
            full = self.full.describe(obs, agent).text
            if plans is not None and full != text:
                self.full_taught.add(full)
        if plans is None:
            return None
        probs = np.zeros(N_ACTIONS, dtype=np.float32)
        if self.soft:
            for plan, p in plans:
                probs[self.plan_action(obs, agent, description, plan)] += p
            probs /= probs.sum()
        else:
            choice = 0
            if len(plans) > 1:  # one draw, only where there is a choice
                weights = self._weights.get(text)
                if weights is None:
                    weights = self._weights[text] = tuple(float(p) for _, p in plans)
                choice = sample_actions(weights, self.rng)
            probs[self.plan_action(obs, agent, description, plans[choice][0])] = 1.0
        return probs


@dataclass
class TeacherSpec:
    """Everything a process needs to build a task's planner and teachers (small and picklable, so it can be sent
    to environment worker processes)."""
    task: dict                                   # the task's settings (planner.task_spec.task_config)
    config: TeacherConfig = field(default_factory=TeacherConfig)
    task_log_dir: Optional[str] = None           # where the default plan cache lives
    nonblocking: bool = False                    # the training envs' teacher: a live LLM never makes them wait
                                                 # (--llm_wait never)
    has_teacher: bool = True                     # False: a run without a teacher (plain PPO), nothing to build
    sighted: bool = False                        # the training envs' 3D teacher teaches only what the camera shows
                                                 # (--sighted_teacher; evaluation and a warm start: all its advice)

    def __post_init__(self):  # the texts the planner is asked: the task's reduced ones where --teacher_texts says
        from planner.task_spec import texts_task
        self.task = texts_task(self.task, getattr(self.config, "teacher_texts", "full"), self.config.uses_llm())

    def make_planner(self):
        from planner.base import NoPlanner
        from planner.factory import build_planner
        if not self.has_teacher:
            return NoPlanner()
        return build_planner(self.config, self.task, self.task_log_dir, nonblocking=self.nonblocking)

    def make_teacher(self, planner, seed):
        """The task's world's teacher: begin(env) at every episode start, teach(env, obs) -> a distribution over
        the world's actions (None: no answer yet), last_text / last_text_id."""
        if self.task.get("world") == "miniworld":
            from teacher.miniworld_teacher import MiniWorldTeacher
            from planner.task_spec import naming_rule
            return MiniWorldTeacher(planner, soft=self.config.soft_planner, rng=np.random.default_rng(seed),
                                    named=self.task.get("named"),
                                    colours=naming_rule(self.task["object_names"])["colours"] != "none",
                                    sighted=self.sighted)
        official = self.task.get("options", "careful") == "official"
        return TeacherPolicy(planner, self.task["object_names"], soft=self.config.soft_planner,
                             rng=np.random.default_rng(seed),
                             goto_through_lava=official and not self.config.goto_avoids_lava,
                             careful=not official, full_names=self.task.get("full_object_names"))
