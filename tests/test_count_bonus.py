"""--count_bonus: an episodic count bonus beta / sqrt(N) in the training reward only, shrinking with visits within
an episode, forgotten at the next episode, kept exactly across a checkpoint, and never in returns or success."""
import math

import numpy as np
import pytest
from minigrid.core.actions import Actions

import env as env_pkg
from algos.vec_env.count_bonus import EpisodicCount
from algos.vec_env.env_pool import EnvPool
from algos.config import Config
from algos.learner.rollout import Rollout, collect
from planner.task_spec import task_config
from teacher.policy import TeacherSpec

BETA = 0.01
LEFT = int(Actions.left)


def pool(count_bonus, n=2, workers=0):
    cfg = task_config("SimpleDoorKey")
    return EnvPool(cfg["env_id"], [300 + i for i in range(n)], [[0, i] for i in range(n)],
                   TeacherSpec(cfg), workers=workers, count_bonus=count_bonus)


@pytest.mark.parametrize("workers", [0, 1])
def test_the_bonus_shrinks_with_visits_and_is_forgotten_with_the_episode(workers):
    p = pool(BETA, workers=workers)
    try:
        p.reset()
        bonuses = []
        for _ in range(8):                       # four left turns come back to the same state
            p.step(np.full(2, LEFT))
            bonuses.append(p.arrays["bonus"].copy())
        expected = [BETA] * 4 + [BETA / math.sqrt(2)] * 4
        assert np.allclose([b[0] for b in bonuses], expected) and np.allclose([b[1] for b in bonuses], expected)
        p.reset()                                # a new episode: every state is new again
        p.step(np.full(2, LEFT))
        assert np.allclose(p.arrays["bonus"], BETA)
    finally:
        p.close()


def test_without_the_flag_there_is_no_bonus():
    p = pool(0.0)
    try:
        p.reset()
        for _ in range(8):
            p.step(np.full(2, LEFT))
            assert not p.arrays["bonus"].any()
    finally:
        p.close()


def test_a_state_is_the_agents_pose_what_it_holds_and_the_open_doors():
    p = pool(BETA, n=1)
    try:
        p.reset()
        env = p.shards[0].group.envs[0]
        count = EpisodicCount(BETA)
        count.reset(env)
        assert count.bonus(env) == BETA and count.bonus(env) == pytest.approx(BETA / math.sqrt(2))
        count.doors[0].is_open = True            # the same pose with the door open is another state
        assert count.bonus(env) == BETA
        saved = count.get_state()
        other = EpisodicCount(BETA)
        other.reset(env)
        other.set_state(saved)                   # what a checkpoint keeps: the episode's counts, exactly
        assert other.counts == count.counts and other.bonus(env) == count.bonus(env)
    finally:
        p.close()


def test_the_bonus_is_in_the_training_reward_but_not_in_returns_or_success():
    import torch

    from algos.run.checkpoint import build_model
    p = pool(BETA)
    try:
        config = Config(rollout_steps=160, num_envs=2)   # longer than an episode (150 steps)
        model = build_model(config, p.obs_shape, torch.device("cpu"))
        torch.manual_seed(0)
        storage = Rollout(2, p.obs_shape)
        batch, episodes = collect(model, p, storage, torch.device("cpu"), config)
        rewards = storage.reward[:len(batch["action"])]
        assert rewards.shape == (160, 2) and (rewards >= BETA / math.sqrt(160) - 1e-7).all()  # every step a bonus
        assert episodes and all(ret == 0.0 for ret, _, success, _ in episodes if not success)    # returns: extrinsic
        assert all(ret > 0 for ret, _, success, _ in episodes if success)
    finally:
        p.close()


def test_the_counts_of_the_running_episodes_are_kept_across_a_checkpoint():
    a, b = pool(BETA, workers=1), pool(BETA, workers=1)
    try:
        a.reset()
        for _ in range(4):
            a.step(np.full(2, LEFT))
        b.reset()
        b.set_state(a.get_state())               # as --resume restores the envs
        a.step(np.full(2, LEFT))
        b.step(np.full(2, LEFT))
        assert np.allclose(a.arrays["bonus"], BETA / math.sqrt(2)) and np.allclose(b.arrays["bonus"], a.arrays["bonus"])
    finally:
        a.close()
        b.close()


def test_in_a_3d_room_a_state_is_the_floor_cell_the_heading_sector_and_the_load():
    cfg = task_config("MiniWorld-PutNext-v0")
    p = EnvPool(cfg["env_id"], [300], [[0, 0]], TeacherSpec(cfg), workers=0, count_bonus=BETA)
    try:
        p.reset()
        env = p.shards[0].group.envs[0]
        bonuses = []
        for _ in range(24):                      # a full turn in place, 15 degrees a step: each 30-degree sector twice
            p.step(np.full(1, int(env.actions.turn_left)))
            bonuses.append(float(p.arrays["bonus"][0]))
        assert sorted(bonuses) == pytest.approx([BETA / math.sqrt(2)] * 12 + [BETA] * 12)
        count = EpisodicCount(BETA, env_pkg.visit_state(cfg["env_id"]))
        count.reset(env)
        here = count.state(env)
        env.agent.carrying = env.entities[2]     # the same pose holding a box is another state
        assert count.state(env) == here[:3] + (2,) and count.bonus(env) == BETA
        env.agent.carrying = None
        env.agent.pos = env.agent.pos + np.array([0.5, 0.0, 0.0])   # one cell on: another state
        assert count.state(env)[0] == here[0] + 1 and count.state(env)[1:] == here[1:]
        saved = count.get_state()
        other = EpisodicCount(BETA, env_pkg.visit_state(cfg["env_id"]))
        other.reset(env)
        other.set_state(saved)                   # kept exactly across a checkpoint
        assert other.counts == count.counts and other.bonus(env) == count.bonus(env)
    finally:
        p.close()
