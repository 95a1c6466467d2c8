"""The warm start (--clone_steps): the teacher's demonstrations are whole episodes with the teacher's distribution
at every step, cloning brings the student near them, and a run counts their env steps once (not again on resume)."""
import json
import os

import numpy as np
import pytest
import torch

import main
from algos.learner import clone
from algos.learner.model import ActorCritic
from algos.run.episodes import TRAIN_SEED_SPAN, eval_pool, training_seeds
from algos.run.warm_start import SUMMARY_FILE, demonstration_seeds, demonstrations
from planner.task_spec import task_config
from teacher.config import TeacherConfig
from teacher.policy import TeacherSpec
from tests.helpers import read_metrics, tiny_train_args


def simple_doorkey_demonstrations(steps, n=3):
    spec = TeacherSpec(task_config("SimpleDoorKey"), TeacherConfig())
    pool = eval_pool(spec.task["env_id"], demonstration_seeds(0, 0, n), spec, True)
    try:
        return demonstrations(pool, steps, 0, np.random.default_rng(0)), pool.obs_shape
    finally:
        pool.close()


def test_demonstrations_are_whole_teacher_episodes_on_training_layouts():
    (images, targets, starts, results), _ = simple_doorkey_demonstrations(120)
    assert len(images) >= 120 and len(results) % 3 == 0               # whole batches of one episode per env
    assert [j - i for i, j in clone.episodes(starts)] == [r[1] for r in results]  # every step of every episode
    assert np.allclose(targets.sum(1), 1.0) and (targets >= 0).all()   # the teacher's distribution at each step
    assert all(r[2] for r in results)                                  # SimpleDoorKey's teacher succeeds
    seeds = demonstration_seeds(0, 0, 50)
    assert max(seeds) < TRAIN_SEED_SPAN and not set(seeds) & set(training_seeds(0, 16))
    assert demonstration_seeds(0, 3, 2) == seeds[3:5]                 # each batch of episodes new layouts


def test_clone_pieces_cover_every_step_once_and_fitting_lowers_the_kl():
    (images, targets, starts, _), shape = simple_doorkey_demonstrations(60, n=2)
    torch.manual_seed(0)
    for recurrent in (False, True):
        model = ActorCritic(shape, n_actions=targets.shape[1], recurrent=recurrent)
        order = np.random.default_rng(0).permutation(clone.units(model, starts))
        seen = np.concatenate([t.numpy() for _, t in clone.batches(model, images, targets, starts, order, 2)])
        assert sorted(map(tuple, seen.round(6))) == sorted(map(tuple, targets.round(6)))
        before = clone.kl(model, images, targets, starts)
        after = clone.fit(model, images, targets, starts, 6, 1e-3, np.random.default_rng(0))
        assert len(after) == 6 and after[-1] < 0.8 * before


def test_a_warm_started_run_counts_the_demonstrations_once(tmp_path, capsys):
    extra = ["--clone_steps", "100", "--clone_epochs", "2"]
    assert main.main(tiny_train_args(tmp_path, "w", n_itr=1, extra=extra)) == 0
    run_dir = os.path.join(tmp_path, "ppo", "SimpleDoorKey", "w-0")
    with open(os.path.join(run_dir, SUMMARY_FILE)) as f:
        summary = json.load(f)
    assert summary["steps"] >= 100 and len(summary["kl"]) == 2 and summary["score"] == 1.0
    assert "warm start: the teacher drove" in capsys.readouterr().out
    first = read_metrics(run_dir)
    iteration_steps = int(first[0]["env_steps"]) - summary["steps"]
    assert 0 < iteration_steps <= 2 * 150                              # 2 episodes of at most 150 steps
    assert main.main(["train", "--resume", run_dir, "--n_itr", "2"]) == 0
    rows = read_metrics(run_dir)
    assert "warm start" not in capsys.readouterr().out                 # not cloned again
    assert 0 < int(rows[1]["env_steps"]) - int(rows[0]["env_steps"]) <= 2 * 150


def test_demonstrations_replay_every_unit_once_per_pass_and_refuse_another_shape(tmp_path):
    (images, targets, starts, _), shape = simple_doorkey_demonstrations(400)
    demos = clone.Demonstrations(images, targets, starts, seed=0)
    model = ActorCritic(shape, n_actions=targets.shape[1])
    size, passes = clone.STEPS_PER_MINIBATCH, len(images) // clone.STEPS_PER_MINIBATCH
    assert passes >= 3
    seen = []
    for _ in range(passes):
        loss = demos.loss(model)
        assert loss.ndim == 0 and float(loss.detach()) > 0
        seen.append(set(range(len(images))) - set(demos.order) - set().union(*seen))
    assert all(len(s) == size for s in seen)                            # each minibatch steps not drawn before
    demos.save(tmp_path / "d.npz")
    again = clone.Demonstrations.load(tmp_path / "d.npz", shape, targets.shape[1])
    assert np.array_equal(again.images, images) and np.array_equal(again.starts, starts)
    with pytest.raises(ValueError, match="expected"):
        clone.Demonstrations.load(tmp_path / "d.npz", (5, 5, 3), targets.shape[1])


def test_a_replaying_run_keeps_its_demonstrations_for_a_resume(tmp_path, capsys):
    extra = ["--clone_steps", "100", "--clone_epochs", "1", "--clone_replay"]
    assert main.main(tiny_train_args(tmp_path, "r", n_itr=1, extra=extra)) == 0
    run_dir = os.path.join(tmp_path, "ppo", "SimpleDoorKey", "r-0")
    assert float(read_metrics(run_dir)[0]["Train/Demonstration Loss"]) > 0
    assert main.main(["train", "--resume", run_dir, "--n_itr", "2"]) == 0
    assert float(read_metrics(run_dir)[1]["Train/Demonstration Loss"]) > 0   # replayed after the resume too
    os.remove(os.path.join(run_dir, "demonstrations.npz"))
    capsys.readouterr()
    assert main.main(["train", "--resume", run_dir, "--n_itr", "3"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--clone_replay: the run's demonstrations cannot be read" in err[0]
    assert len(read_metrics(run_dir)) == 2                                  # the run's data untouched


def test_a_stop_during_the_warm_start_keeps_it_and_the_resumed_run_does_not_clone_again(tmp_path):
    """With recorded answers nothing waits: a stop request already true lets the warm start finish, then the run
    stops before its first iteration with the warm start checkpointed (its env steps, the cloned weights)."""
    import dataclasses
    from algos.config import Config
    from algos.run.train import train
    config = dataclasses.replace(Config(), task="SimpleDoorKey", logdir=str(tmp_path), savedir="s", n_itr=1,
                                 num_envs=2, workers=0, traj_per_itr=2, batch_size=32, num_eval=2, clone_steps=100,
                                 clone_epochs=1)
    stopped = train(config, {}, show_progress=False, stop=lambda: "stop")
    assert stopped.stopped_by == "stop" and stopped.iterations == 0 and stopped.env_steps >= 100
    resumed = train(dataclasses.replace(config, resume=stopped.run_dir), {"resume": stopped.run_dir},
                    show_progress=False)
    assert resumed.iterations == 1
    assert 0 < resumed.env_steps - stopped.env_steps <= 2 * 150           # one iteration, no second warm start
