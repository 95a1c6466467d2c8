import pytest
import glob
import json
import os
import re

import numpy as np
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import algos.run.evaluate
import main
from algos.vec_env.env_pool import EnvPool
from teacher.policy import TeacherSpec
from tests.helpers import ROOT, read_metrics, run_main, tiny_train_args
from utils.logger import TEST_TAGS, TRAIN_TAGS
from planner.task_spec import task_config

OFFICIAL_TAGS = ["Train/Return Mean", "Train/Return Std", "Train/Eplen", "Train/Success Rate", "Train/Loss",
                 "Train/Mean Entropy", "Train/Kickstarting Loss", "Train/Policy Loss", "Train/Value Loss",
                 "Train/Kickstarting Coef", "Test/Return", "Test/Eplen", "Test/Success Rate"]


def test_train_eval_round_trip(tmp_path, capsys):
    assert main.main(tiny_train_args(tmp_path, n_itr=2)) == 0
    run_dir = tmp_path / "ppo" / "SimpleDoorKey" / "t-0"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["task"] == "SimpleDoorKey" and config["seed"] == 0 and config["teacher_coef"] == 10.0
    rows = read_metrics(run_dir)
    assert [r["iteration"] for r in rows] == ["1", "2"]
    assert float(rows[0]["Train/Kickstarting Coef"]) == 10.0 and float(rows[1]["Train/Kickstarting Coef"]) == 9.995
    assert rows[1]["Test/Success Rate"] != ""
    assert rows[1]["Teacher/Missing Texts"] == "0" and rows[1]["Teacher/Missing Distinct"] == "0"
    for name in ("latest", "best"):
        payload = torch.load(run_dir / "checkpoints" / f"{name}.pt", weights_only=True)
        assert set(payload["model"]) and payload["config"]["task"] == "SimpleDoorKey"
    assert torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)["iteration"] == 2
    # the official TensorBoard tags are in the event file
    events = glob.glob(str(run_dir / "events.out.tfevents.*"))
    assert events
    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert set(OFFICIAL_TAGS) <= tags and "charts/SPS" in tags
    assert set(OFFICIAL_TAGS) <= set(TRAIN_TAGS + TEST_TAGS)
    capsys.readouterr()
    # eval the saved student
    assert main.main(["eval", "--task", "SimpleDoorKey", "--loaddir", str(run_dir), "--num_eval", "3"]) == 0
    out = capsys.readouterr().out
    assert "mean return" in out and "mean length" in out and "success rate" in out and "over 3 episodes" in out
    assert main.main(["eval", "--task", "SimpleDoorKey", "--loaddir", str(run_dir), "--loadmodel", "best",
                      "--num_eval", "2", "--env_seed_list", "5", "6"]) == 0
    assert "overall" in capsys.readouterr().out


def test_eval_teacher_needs_no_loaddir_and_writes_its_result(tmp_path, capsys):
    assert main.main(["eval", "--task", "SimpleDoorKey", "--eval_teacher", "--num_eval", "20",
                      "--logdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "success rate 1.000 over 20 episodes" in out
    saved = json.loads((tmp_path / "ppo" / "SimpleDoorKey" / "teacher_eval.json").read_text())["measurements"]
    assert len(saved) == 1 and saved[0]["success_rate"] == 1.0 and saved[0]["num_eval"] == 20
    assert saved[0]["teacher"] == {"answers": "official", "soft_planner": False, "goto_avoids_lava": False}
    assert saved[0]["env_seeds"] == [1_000_000] and saved[0]["episodes_per_seed"] == 20


def test_plain_ppo_switch_turns_the_teacher_off(tmp_path):
    assert main.main(tiny_train_args(tmp_path, n_itr=1, extra=["--teacher_coef", "0"])) == 0
    row = read_metrics(tmp_path / "ppo" / "SimpleDoorKey" / "t-0")[0]
    assert float(row["Train/Kickstarting Coef"]) == 0.0 and float(row["Train/Kickstarting Loss"]) == 0.0


def test_recurrent_and_frame_stack_students_train_and_evaluate(tmp_path, capsys, monkeypatch):
    assert main.main(tiny_train_args(tmp_path, "lstm", n_itr=1, extra=["--recurrent"])) == 0
    assert main.main(tiny_train_args(tmp_path, "stack", n_itr=1, extra=["--frame_stack", "2"])) == 0
    assert main.main(tiny_train_args(tmp_path, "res", n_itr=1, extra=["--recurrent", "--lstm_residual"])) == 0
    built = []
    real = algos.run.evaluate.build_task_model
    monkeypatch.setattr(algos.run.evaluate, "build_task_model", lambda *a: built.append(real(*a)) or built[-1])
    for name in ("lstm", "stack", "res"):
        run_dir = tmp_path / "ppo" / "SimpleDoorKey" / f"{name}-0"
        assert main.main(["eval", "--task", "SimpleDoorKey", "--loaddir", str(run_dir), "--num_eval", "2"]) == 0
    # evaluation builds each student as it was trained
    assert [(m.recurrent, m.lstm_residual) for m in built] == [(True, False), (False, False), (True, True)]
    payload = torch.load(tmp_path / "ppo/SimpleDoorKey/stack-0/checkpoints/latest.pt", weights_only=True)
    assert payload["obs_shape"] == [10, 10, 8]


def test_a_bf16_run_trains_and_its_student_evaluates_in_bf16(tmp_path, capsys, monkeypatch):
    assert main.main(tiny_train_args(tmp_path, "bf16", n_itr=2, extra=["--precision", "bf16"])) == 0
    run_dir = tmp_path / "ppo" / "SimpleDoorKey" / "bf16-0"
    assert json.loads((run_dir / "config.json").read_text())["precision"] == "bf16"
    rows = read_metrics(run_dir)
    assert len(rows) == 2 and all(np.isfinite(float(r["Train/Loss"])) for r in rows)
    payload = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)
    assert all(v.dtype == torch.float32 for v in payload["model"].values() if v.is_floating_point())
    built = []
    real = algos.run.evaluate.build_task_model
    monkeypatch.setattr(algos.run.evaluate, "build_task_model", lambda *a: built.append(real(*a)) or built[-1])
    assert main.main(["eval", "--task", "SimpleDoorKey", "--loaddir", str(run_dir), "--num_eval", "2"]) == 0
    assert built[0].autocast_dtype == torch.bfloat16
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main.main(tiny_train_args(tmp_path, "fp16", n_itr=1, extra=["--precision", "fp16"]))
    assert exit_.value.code == 2 and "--precision: expected one of fp32, bf16, got 'fp16'" in capsys.readouterr().err


def test_worker_processes_give_the_same_steps_as_in_process_envs():
    cfg = task_config("ColoredDoorKey")
    seeds, teacher_seeds = [3 * 100_003 + i for i in range(4)], [[3, i] for i in range(4)]
    a = EnvPool(cfg["env_id"], seeds, teacher_seeds, TeacherSpec(cfg), workers=0)
    b = EnvPool(cfg["env_id"], seeds, teacher_seeds, TeacherSpec(cfg), workers=2)
    try:
        a.reset()
        b.reset()
        rng = np.random.default_rng(0)
        for _ in range(200):
            for key in ("obs", "teacher", "reward", "terminated", "truncated"):
                assert np.array_equal(a.arrays[key], b.arrays[key]), key
            actions = rng.integers(0, 7, size=4)
            a.step(actions)
            b.step(actions)
        assert a.get_state() == b.get_state()
    finally:
        a.close()
        b.close()


def test_same_seed_same_losses(tmp_path):
    assert main.main(tiny_train_args(tmp_path, "a", n_itr=3)) == 0
    assert main.main(tiny_train_args(tmp_path, "b", n_itr=3)) == 0
    ra, rb = (read_metrics(tmp_path / "ppo" / "SimpleDoorKey" / f"{n}-0") for n in "ab")
    assert ra == rb and len(ra) == 3
    assert main.main(tiny_train_args(tmp_path, "c", n_itr=3, extra=["--seed_list", "1"])) == 0
    assert read_metrics(tmp_path / "ppo" / "SimpleDoorKey" / "c-1") != ra


def test_cli_runs_as_a_script(tmp_path):
    result = run_main(["eval", "--task", "lavadoorkey", "--eval_teacher", "--num_eval", "5", "--logdir", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    assert "LavaDoorKey teacher" in result.stdout


def test_annealed_learning_rate_is_applied_and_logged(tmp_path):
    assert main.main(tiny_train_args(tmp_path, "anneal", n_itr=4, extra=["--anneal_lr", "--lr", "0.002"])) == 0
    rows = read_metrics(tmp_path / "ppo" / "SimpleDoorKey" / "anneal-0")
    assert [float(r["Train/Learning Rate"]) for r in rows] == pytest.approx([0.002, 0.0015, 0.001, 0.0005])


def test_a_published_student_evaluates_like_its_run(tmp_path, capsys):
    from algos.run.checkpoint import export_student
    assert main.main(tiny_train_args(tmp_path, "pub", n_itr=1)) == 0
    run_dir = tmp_path / "ppo" / "SimpleDoorKey" / "pub-0"
    out = export_student(str(run_dir / "checkpoints" / "latest.pt"), str(tmp_path / "models" / "SimpleDoorKey.pt"))
    small = torch.load(out, weights_only=True)
    full = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)
    assert set(small) == {"model", "config", "obs_shape", "iteration", "env_steps"}
    for k, v in full["model"].items():
        assert small["model"][k].dtype == torch.float16 and torch.allclose(small["model"][k].float(), v, atol=1e-3)
    capsys.readouterr()
    assert main.main(["eval", "--task", "SimpleDoorKey", "--loaddir", out, "--num_eval", "3"]) == 0
    assert "SimpleDoorKey student" in capsys.readouterr().out


def test_every_task_has_a_small_published_student_of_that_task():
    from planner.task_spec import task_names
    for task in task_names():
        path = os.path.join(ROOT, "models", f"{task}.pt")
        assert os.path.getsize(path) <= 16 * 2**20, task
        payload = torch.load(path, weights_only=True)
        assert payload["config"]["task"] == task
        assert all(v.dtype == torch.float16 for v in payload["model"].values() if v.is_floating_point())


@pytest.mark.parametrize("task,name", [("SimpleDoorKey", "SimpleDoorKey"), ("ColoredDoorKey", "ColoredDoorKey"),
                                       ("LavaDoorKey", "LavaDoorKey"), ("LavaDoorKey", "LavaDoorKey-gemma3-270m"),
                                       ("ColoredDoorKey", "ColoredDoorKey-gemma3-270m"), ("KeyInBox", "KeyInBox"),
                                       ("RandomBoxKey", "RandomBoxKey"),
                                       ("MiniGrid-DoorKey-16x16-v0", "MiniGrid-DoorKey-16x16-v0"),
                                       ("MiniGrid-UnlockPickup-v0", "MiniGrid-UnlockPickup-v0"),
                                       ("MiniGrid-BlockedUnlockPickup-v0", "MiniGrid-BlockedUnlockPickup-v0"),
                                       ("MiniGrid-LockedRoom-v0", "MiniGrid-LockedRoom-v0-gemma3-270m-live"),
                                       ("MiniGrid-MultiRoom-N4-S5-v0", "MiniGrid-MultiRoom-N4-S5-v0-gemma3-270m-live")])
def test_the_published_students_still_load_and_succeed(task, name, capsys):
    path = os.path.join(ROOT, "models", f"{name}.pt")
    assert os.path.getsize(path) <= 16 * 2**20
    assert main.main(["eval", "--task", task, "--loaddir", path, "--num_eval", "20",
                      "--env_seed_list", "2000000"]) == 0
    success = float(re.search(r"success rate ([0-9.]+) over 20 episodes", capsys.readouterr().out).group(1))
    assert success >= 0.7  # docs/results.md, docs/many_texts.md: 0.90-1.00 on 100 held-out episodes


# -- a stop request while the teacher is measured before the first iteration --------------------------------------
ADAPTIVE = ["--teacher_schedule", "adaptive", "--teacher_eval_min", "1000"]  # 500 batches of 2 episodes, unstopped


@pytest.mark.parametrize("signum,status", [(2, 130), (15, 143)])
def test_one_signal_while_the_teacher_is_measured_stops_the_run_with_a_checkpoint(tmp_path, capsys, monkeypatch,
                                                                                  signum, status):
    """Issue 62: the first Ctrl-C / SIGTERM ends the measurement at the next batch of episodes; the run checkpoints
    the state before it and exits as an interrupted run; --resume measures again and trains on."""
    import signal
    import algos.run.trainer
    real, calls = algos.run.trainer.run_episodes, []

    def run_episodes(pool, choose, seeds, on_step=None):
        calls.append(len(seeds))
        if len(calls) == 2:  # the first batch of the teacher's (the student's evaluation came first)
            os.kill(os.getpid(), signum)
        return real(pool, choose, seeds, on_step)
    monkeypatch.setattr(algos.run.trainer, "run_episodes", run_episodes)
    assert main.main(tiny_train_args(tmp_path, n_itr=2, extra=ADAPTIVE)) == status
    err = capsys.readouterr().err
    run_dir = tmp_path / "ppo" / "SimpleDoorKey" / "t-0"
    assert len(calls) == 2, calls
    assert f"stopped by {signal.Signals(signum).name} after iteration 0" in err and f"--resume {run_dir}" in err
    payload = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)
    assert payload["iteration"] == 0 and payload["schedule"]["teacher_score"] is None  # nothing half-measured
    monkeypatch.setattr(algos.run.trainer, "run_episodes", real)
    assert main.main(["train", "--resume", str(run_dir)]) == 0
    rows = read_metrics(run_dir)
    assert [r["iteration"] for r in rows] == ["1", "2"] and rows[0]["Schedule/Teacher Success"] != ""


def test_a_sweep_stop_before_the_first_iteration_measures_nothing(tmp_path, monkeypatch):
    """A stop condition already true (a sweep's stop file) ends the run before its first measurement batch."""
    import dataclasses
    import algos.run.trainer
    from algos.config import Config
    from algos.run.train import train
    calls = []
    monkeypatch.setattr(algos.run.trainer, "run_episodes", lambda *a, **k: calls.append(1))
    config = dataclasses.replace(Config(), task="SimpleDoorKey", logdir=str(tmp_path), savedir="t", n_itr=2,
                                 num_envs=2, workers=0, traj_per_itr=2, batch_size=32, num_eval=2,
                                 teacher_schedule="adaptive")
    result = train(config, {}, show_progress=False, stop=lambda: "stop")
    assert result.stopped_by == "stop" and result.iterations == 0 and calls == []
    assert os.path.isfile(os.path.join(result.run_dir, "checkpoints", "latest.pt"))


def test_until_settled_asks_stop_before_each_batch():
    from algos.run.episodes import until_settled
    batches = []

    def run(seeds):
        batches.append(seeds[0])
        return [(0.0, 5, False)] * len(seeds)
    assert len(until_settled(run, 100, 4, 10_000, min_episodes=1000, stop=lambda: len(batches) >= 3)) == 12
    assert batches == [100, 104, 108]
    assert until_settled(run, 100, 4, 50, stop=lambda: "SIGINT") == []
