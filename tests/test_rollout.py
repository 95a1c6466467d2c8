"""--rollout_steps: iterations of a fixed number of steps per env whose episodes go on into the next iteration
(CleanRL's num_steps), for tasks whose episodes are long."""
import numpy as np
import pytest
import torch

import algos.run.trainer
import main
from algos.config import Config
from algos.vec_env.env_pool import EnvPool
from algos.learner.model import ActorCritic
from algos.learner.rollout import Rollout, collect
from teacher.policy import TeacherSpec
from tests.helpers import read_metrics, tiny_train_args
from planner.task_spec import task_config


@pytest.fixture
def setup(request):
    recurrent = getattr(request, "param", False)
    cfg = task_config("SimpleDoorKey")
    pool = EnvPool(cfg["env_id"], [100 + i for i in range(3)], [[0, i] for i in range(3)], TeacherSpec(cfg),
                   workers=0)
    pool.set_teacher(True)
    torch.manual_seed(0)
    model = ActorCritic(pool.obs_shape, recurrent=recurrent)
    yield pool, model, Rollout(3, pool.obs_shape)
    pool.close()


def test_an_iteration_is_rollout_steps_per_env_and_its_episodes_go_on(setup):
    pool, model, storage = setup
    config = Config(rollout_steps=7)
    lengths, previous = [], None
    for _ in range(30):
        batch, episodes = collect(model, pool, storage, "cpu", config)
        assert tuple(batch["action"].shape) == (7, 3)
        if previous is not None:  # no reset in between: the pool's observation where the last iteration stopped
            last_obs, last_ended = previous
            assert np.array_equal(batch["obs"][0].numpy(), last_obs)
            assert np.array_equal(batch["start"][0].numpy(), last_ended)
        previous = pool.arrays["obs"].copy(), (pool.arrays["terminated"] | pool.arrays["truncated"]).copy()
        lengths += [e[1] for e in episodes]
    # 210 steps per env: episodes ended, and ones longer than an iteration (impossible if each one began afresh)
    assert lengths and max(lengths) > 7


def test_the_official_iteration_starts_fresh_episodes(setup):
    pool, model, storage = setup
    config = Config(traj_per_itr=1, batch_size=2)
    collect(model, pool, storage, "cpu", config)
    pool.step(np.zeros(3, np.int64))  # whatever state the pool is left in, the next iteration resets it
    batch, _ = collect(model, pool, storage, "cpu", config)
    assert batch["start"][0].all() and storage.carry is None


def test_an_episode_cut_at_the_iteration_end_is_bootstrapped_with_the_critic(setup):
    pool, model, storage = setup
    config = Config(rollout_steps=5, gamma=0.9)
    batch, _ = collect(model, pool, storage, "cpu", config)
    running = ~(pool.arrays["terminated"] | pool.arrays["truncated"])
    assert running.any()
    with torch.no_grad():
        _, next_value, _ = model(torch.from_numpy(pool.arrays["obs"].copy()))
    ret = batch["return"][-1].numpy()
    reward = pool.arrays["reward"]
    for i in np.nonzero(running)[0]:
        assert ret[i] == pytest.approx(reward[i] + 0.9 * float(next_value[i]), abs=1e-5)


@pytest.mark.parametrize("setup", [True], indirect=True)
def test_the_students_memory_goes_on_with_its_episodes(setup):
    pool, model, storage = setup
    config = Config(rollout_steps=6, recurrent=True)
    first, _ = collect(model, pool, storage, "cpu", config)
    state = first["init_state"]
    with torch.no_grad():  # (a batch's tensors share the storage that the next iteration overwrites)
        for t in range(6):
            _, _, state = model(first["obs"][t], state, first["start"][t])
    second, _ = collect(model, pool, storage, "cpu", config)
    assert not torch.equal(second["init_state"][0], torch.zeros_like(second["init_state"][0]))
    for carried, replayed in zip(second["init_state"], state):
        assert torch.allclose(carried, replayed, atol=1e-5)


def test_training_with_rollout_steps_counts_env_steps_and_restarts_episodes_when_the_teacher_goes(
        tmp_path, monkeypatch):
    fresh = []
    real = algos.run.trainer.collect

    def spy(model, pool, storage, device, config, **kw):
        fresh.append(storage.carry is None)
        return real(model, pool, storage, device, config, **kw)
    monkeypatch.setattr(algos.run.trainer, "collect", spy)
    args = tiny_train_args(tmp_path, "r", n_itr=4, extra=["--rollout_steps", "5", "--teacher_off_after", "2"])
    assert main.main(args) == 0
    assert fresh == [True, False, True, False]  # the first iteration, and the one where the teacher term is off
    rows = read_metrics(tmp_path / "ppo" / "SimpleDoorKey" / "r-0")
    assert [int(r["env_steps"]) for r in rows] == [10, 20, 30, 40]
    assert any(r["Train/Episodes"] == "0" for r in rows)  # 5 steps per env: some iteration ends no episode
    for r in rows:  # no episode ended: no training success figure (not a 0)
        assert (r["Train/Success Rate"] == "") == (r["Train/Episodes"] == "0")


def test_training_env_seeds_are_the_official_ones_and_never_evaluation_seeds():
    from algos.run.episodes import TRAIN_SEED_SPAN, training_seeds
    assert training_seeds(0, 3) == [0, 1, 2] and training_seeds(9, 2) == [900_027, 900_028]  # seed * 100_003 + i
    for seed in (10, 20, 42, 12345, 2**31 - 1):
        seeds = training_seeds(seed, 16)
        assert seeds == list(range(seeds[0], seeds[0] + 16)) and seeds[-1] < TRAIN_SEED_SPAN <= 1_000_000
