"""An episodic count exploration bonus: after each step the env's state adds beta / sqrt(N) to the training reward,
N the number of visits to that state so far in this episode (1 on the first). The form of the episodic-count
baseline of E3B (Henaff et al. 2022, "Exploration via Elliptical Episodic Bonuses"), and NovelD's episodic
restriction without its RND novelty (Zhang et al. 2021); it suits procedurally generated MiniGrid tasks, where a
count kept across episodes would not transfer between layouts. A state is the agent's cell and direction, what it
carries, and which doors are open (the layout itself is fixed within an episode); in a 3D room the world's own
state (env.visit_state: the agent's floor cell, heading sector and load).

The bonus goes into the reward PPO learns from only: returns, success and every logged metric stay extrinsic."""
import math
from collections import Counter


class EpisodicCount:
    def __init__(self, beta, state_of=None):
        self.beta = float(beta)
        self.state_of = state_of  # the world's state (env -> hashable); None: a grid's, read here
        self.counts, self.doors = Counter(), []

    def reset(self, env):
        """A new episode in `env`: forget the counts, find a grid's doors (they never move)."""
        self.counts.clear()
        if self.state_of is None:
            self.doors = [obj for obj in env.grid.grid if obj is not None and obj.type == "door"]

    def state(self, env):
        if self.state_of is not None:
            return self.state_of(env)
        held = env.carrying
        return (int(env.agent_pos[0]), int(env.agent_pos[1]), int(env.agent_dir),
                None if held is None else (held.type, held.color), tuple(d.is_open for d in self.doors))

    def bonus(self, env):
        """Count the state `env` is in now; its bonus."""
        key = self.state(env)
        self.counts[key] += 1
        return self.beta / math.sqrt(self.counts[key])

    def get_state(self):
        return [[_as_lists(k), n] for k, n in self.counts.items()]

    def set_state(self, items):
        self.counts = Counter({_as_tuples(k): n for k, n in items})


def _as_lists(key):
    return [_as_lists(x) for x in key] if isinstance(key, tuple) else key


def _as_tuples(key):
    return tuple(_as_tuples(x) for x in key) if isinstance(key, list) else key
