"""Teacher roll-ins (--teacher_schedule adaptive): the teacher acts for the first h steps of an episode and the
student from there on, h drawn uniformly from 0..horizon at every episode start. A student that cannot yet reach
the reward on its own then starts its part of many episodes where its teacher has taken it (near a key, past a
door), sees the reward, and learns backwards from it. This is jump-start RL's random-switch form (Uchendu et al.
2023, "Jump-Start Reinforcement Learning"); the schedule (algos/learner/schedule.py) shrinks the horizon as the student
catches up with its teacher, JSRL's curriculum.

Everything about roll-ins is here but their horizon, which the schedule sets (algos/learner/schedule.py): the
per-env state and the teacher's actions (RollIn, used by collection), which samples PPO's own terms learn from
(rl_samples), and what a run logs of them (rollin_metrics). The teacher's steps are part of the environment for the
RL terms: PPO's policy, value and entropy terms leave them out, the teacher term keeps them (they are the teacher's own states, labelled by the teacher). Where a
live LLM has not answered yet (no teacher distribution), the student acts and that episode's roll-in ends.
"""
import numpy as np

from teacher.policy import sample_actions

METRICS = ("Train/Guided Share", "Train/Guided Episodes", "Train/Guided Success Rate")


def rl_samples(guided):
    """The samples PPO's own terms learn from: the student's steps (bool tensor like guided), or None for all of
    them (no roll-in step in the batch)."""
    return None if guided is None or not bool(guided.any()) else ~guided


def split_episodes(episodes):
    """(the student's own episodes, those that began with a teacher roll-in) of collect()'s finished episodes."""
    return [e for e in episodes if not e[3]], [e for e in episodes if e[3]]


def rollin_metrics(batch, guided_episodes):
    """The share of the iteration's steps the teacher took, and how the student did from where its roll-ins left
    it (episodes that began with one)."""
    metrics = {"Train/Guided Share": float(batch["guided"].float().mean())}
    if guided_episodes:
        metrics.update({"Train/Guided Episodes": len(guided_episodes),
                        "Train/Guided Success Rate": float(np.mean([e[2] for e in guided_episodes]))})
    return metrics


class RollIn:
    """Per env: the roll-in steps left in its current episode, and whether that episode had one."""

    def __init__(self, n):
        self.left = np.zeros(n, np.int64)
        self.guided = np.zeros(n, bool)

    def active(self, horizon):
        """Whether this step needs the roll-in at all (no random numbers are drawn otherwise)."""
        return horizon > 0 or bool(self.left.any())

    def begin(self, starts, horizon):
        """Draw the roll-in length of every episode starting now (starts: bool per env)."""
        idx = np.nonzero(starts)[0]
        if not len(idx):
            return
        self.left[idx] = np.random.randint(0, horizon + 1, size=len(idx)) if horizon > 0 else 0
        self.guided[idx] = self.left[idx] > 0

    def act(self, action, teacher):
        """Replace the student's actions (int array, in place) by actions sampled from the teacher's distributions
        (n, n_actions) where a roll-in goes on; returns the bool mask of the envs whose action is the teacher's."""
        acting = self.left > 0
        if not acting.any():
            return acting
        # one draw in (0, 1] per row (numpy's global stream, as the student's own sampling by torch is not)
        chosen = sample_actions(teacher[acting], lambda size: 1.0 - np.random.random(size))
        taught = chosen >= 0
        where = np.nonzero(acting)[0]
        untaught = where[~taught]
        self.left[untaught] = 0                                    # no teacher here: the student goes on
        where = where[taught]
        action[where] = chosen[taught]
        self.left[where] -= 1
        acting[:] = False
        acting[where] = True
        return acting

    def clear(self):
        self.left[:] = 0
        self.guided[:] = False
