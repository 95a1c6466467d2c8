"""The teacher: observation -> probability vector over the 7 MiniGrid actions.

text = mediator(obs); plans = planner.plans(text); each plan is a list of options walked in order until one
yields an action (none: action 6, done). Call reset() at every episode start. Hard mode samples one plan per step (one-hot output); soft mode
weights every plan's action by the plan's probability.
"""
import numpy as np

from planner.mediator import Mediator, agent_state, parse_plan, restore_colours
from teacher.options import WAIT, OptionPolicies

N_ACTIONS = 7
DONE = 6


class TeacherPolicy:
    def __init__(self, planner, object_names, soft=False, rng=None, cache=True, goto_through_lava=True):
        self.planner = planner
        self.mediator = Mediator(object_names)
        self.soft = soft
        self.rng = rng if rng is not None else np.random.default_rng()
        self.options = OptionPolicies(goto_through_lava=goto_through_lava, cache=cache)
        self.last_text = None
        self._cdf = {}  # text -> cumulative plan probabilities (a text's plans are fixed for a run)

    def reset(self):
        """Start of an episode: forget the mediator's object order."""
        self.mediator.reset()

    def plan_action(self, obs, agent, description, plan):
        for option in parse_plan(restore_colours(plan, description.colour_map)):
            action = self.options.act(obs, agent, option, description)
            if action is not None and action != "done":
                return action
        return DONE

    def __call__(self, obs, agent=None):
        """Distribution over the 7 actions for a memory observation; `agent` = (x, y, direction) if the caller
        knows it (it is read from the observation otherwise)."""
        agent = agent_state(obs) if agent is None else (int(agent[0]), int(agent[1]), int(agent[2]))
        description = self.mediator.describe(obs, agent)
        self.last_text = description.text
        plans = self.planner.plans(description.text)
        probs = np.zeros(N_ACTIONS, dtype=np.float32)
        if self.soft:
            for plan, p in plans:
                probs[self.plan_action(obs, agent, description, plan)] += p
            probs /= probs.sum()
        else:
            choice = 0
            if len(plans) > 1:  # same draw as rng.choice(len(plans), p=probs), without its per-call overhead
                cdf = self._cdf.get(description.text)
                if cdf is None:
                    cdf = self._cdf[description.text] = np.cumsum([p for _, p in plans], dtype=np.float64)
                    cdf /= cdf[-1]
                choice = int(cdf.searchsorted(self.rng.random(), side="right"))
            probs[self.plan_action(obs, agent, description, plans[choice][0])] = 1.0
        return probs


__all__ = ["TeacherPolicy", "N_ACTIONS", "WAIT"]
