"""--policy sb3_ppo (algos/run/sb3_trainer.py), on tiny budgets: a run writes the same run folder as any other (config.json,
metrics.csv with its periodic evaluations, checkpoints), `main.py eval` and `main.py plot` take it, a finished run is
never trained again, a stopped one resumes where it stopped, the evaluation seeds are not the training seeds, a sweep
gives its results row, and bad input is one line."""
import csv
import json
import os
import pickle
import subprocess
import sys

import gymnasium
import pytest

import main
from algos.run import sb3_trainer as sb3_train
from algos.config import Config
from algos.run.evaluate import evaluate
from algos.run.train import train
from tests.helpers import ROOT, read_metrics

STEPS = 2048  # two SB3 iterations (n_steps 128 x 8 envs each)


def train_args(logdir, task, obs, savedir="sb3", extra=()):
    return ["train", "--task", task, "--policy", "sb3_ppo", "--teacher_coef", "0", "--sb3_obs", obs,
            "--max_env_steps", str(STEPS), "--eval_interval", "1", "--num_eval", "3", "--logdir", str(logdir),
            "--savedir", savedir, "--no_progress", *extra]


@pytest.fixture(scope="module", params=[("SimpleDoorKey", "memory"), ("MiniGrid-DoorKey-5x5-v0", "egocentric")])
def run(request, tmp_path_factory):
    """(task, run folder) of a finished tiny run, one per observation kind."""
    task, obs = request.param
    logdir = tmp_path_factory.mktemp(obs)
    assert main.main(train_args(logdir, task, obs)) == 0
    return task, os.path.join(str(logdir), "ppo", task, "sb3-0")


def test_run_folder_is_a_run_like_any_other(run):
    task, run_dir = run
    config = json.load(open(os.path.join(run_dir, "config.json")))
    assert config["policy"] == "sb3_ppo" and config["task"] == task and config["teacher_coef"] == 0.0
    rows = read_metrics(run_dir)
    assert [int(r["iteration"]) for r in rows] == [1, 2] and [int(r["env_steps"]) for r in rows] == [1024, 2048]
    for r in rows:  # every iteration evaluated (--eval_interval 1), success a rate, the update's figures logged
        assert 0.0 <= float(r["Test/Success Rate"]) <= 1.0 and float(r["Test/Eplen"]) > 0
        assert float(r["Train/Mean Entropy"]) > 0 and r["Train/Value Loss"] != "" and r["Train/Kickstarting Coef"] == "0.0"
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(run_dir))
    for name in ("latest.pt", "latest.zip", "latest_vecnormalize.pkl", "best.pt", "best.zip"):
        assert os.path.isfile(os.path.join(run_dir, "checkpoints", name)), name


def test_eval_plot_and_no_retraining(run, tmp_path, capsys):
    task, run_dir = run
    assert main.main(["eval", "--task", task, "--loaddir", run_dir, "--num_eval", "4", "--env_seed_list", "2000000"]) == 0
    out = capsys.readouterr().out
    assert "env seeds 2000000..2000003" in out and "success rate" in out and "over 4 episodes" in out
    assert main.main(["eval", "--task", task, "--loaddir", run_dir, "--loadmodel", "best", "--num_eval", "2"]) == 0
    png = tmp_path / "curves.png"
    assert main.main(["plot", run_dir, "--out", str(png)]) == 0 and png.stat().st_size > 0

    before = open(os.path.join(run_dir, "metrics.csv")).read()
    assert main.main(["train", "--resume", run_dir]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert open(os.path.join(run_dir, "metrics.csv")).read() == before
    assert main.main(["train", "--fork", run_dir, "--task", task, "--logdir", str(tmp_path)]) == 2
    assert "only the project's PPO runs can be forked" in capsys.readouterr().err


def test_a_stopped_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    """A stop request between iterations checkpoints the run (latest.*); --resume goes on from that checkpoint: the
    SB3 model with its Adam state, the observation statistics and the metrics so far, its envs reset with seeds
    apart from the run's first ones; a larger budget extends a finished run the same way."""
    import torch
    from stable_baselines3 import PPO
    real = sb3_train.sb3_env
    monkeypatch.setattr(sb3_train, "sb3_env", lambda env_id, obs: SeedLog(real(env_id, obs)))
    SeedLog.seeds = []
    polls = []
    config = Config(task="SimpleDoorKey", policy="sb3_ppo", teacher_coef=0.0, seed=2, seed_list=[2],
                    max_env_steps=4 * 1024, eval_interval=0, logdir=str(tmp_path), savedir="s", video=0)
    first = train(config, show_progress=False,
                  stop=lambda: polls.append(1) or ("stop file" if len(polls) >= 2 else None))
    assert first.stopped_by == "stop file" and (first.iterations, first.env_steps) == (2, 2048)
    ckpt = os.path.join(first.run_dir, "checkpoints")
    assert torch.load(os.path.join(ckpt, "latest.pt"), weights_only=False)["iteration"] == 2
    saved = PPO.load(os.path.join(ckpt, "latest.zip"))
    saved_steps = {int(state["step"]) for state in saved.policy.optimizer.state_dict()["state"].values()}
    with open(os.path.join(ckpt, "latest_vecnormalize.pkl"), "rb") as f:
        saved_count = pickle.load(f).obs_rms.count
    assert saved_steps == {2 * 10 * 1024 // 64}  # two updates of 10 epochs of 64-sample minibatches
    first_seeds, SeedLog.seeds = list(SeedLog.seeds), []

    resumed = train(Config(resume=first.run_dir), {}, show_progress=False)
    assert resumed.finished and (resumed.iterations, resumed.env_steps, resumed.trained) == (4, 4096, 2)
    rows = read_metrics(first.run_dir)
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4] and int(rows[-1]["env_steps"]) == 4096
    end = PPO.load(os.path.join(ckpt, "latest.zip"))
    assert {int(state["step"]) for state in end.policy.optimizer.state_dict()["state"].values()} == {4 * 160}
    with open(os.path.join(ckpt, "latest_vecnormalize.pkl"), "rb") as f:  # one reset of 8 envs, 1024 steps a round
        assert pickle.load(f).obs_rms.count == saved_count + 8 + 2 * 1024
    assert SeedLog.seeds[:8] == [SeedLog.seeds[0] + i for i in range(8)]
    assert not set(SeedLog.seeds[:8]) & set(first_seeds)
    assert max(SeedLog.seeds[:8]) < 1_000_000  # training seeds, below every evaluation seed

    longer = train(Config(resume=first.run_dir, max_env_steps=5 * 1024), {"max_env_steps": 5 * 1024},
                   show_progress=False)
    assert (longer.iterations, longer.env_steps, longer.trained) == (5, 5120, 1)


class SeedLog(gymnasium.Wrapper):
    """Records every explicit reset seed of the envs made through sb3_train.sb3_env."""
    seeds = []

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            SeedLog.seeds.append(seed)
        return super().reset(seed=seed, options=options)


def test_evaluation_seeds_are_not_training_seeds(tmp_path, monkeypatch):
    real = sb3_train.sb3_env
    monkeypatch.setattr(sb3_train, "sb3_env", lambda env_id, obs: SeedLog(real(env_id, obs)))
    SeedLog.seeds = []
    config = Config(task="SimpleDoorKey", policy="sb3_ppo", teacher_coef=0.0, seed=3, seed_list=[3], max_env_steps=1024,
                    eval_interval=1, num_eval=5, logdir=str(tmp_path), savedir="s", no_progress=True, video=0)
    result = train(config, show_progress=False)
    training, periodic = SeedLog.seeds[:8], SeedLog.seeds[8:]
    assert training == sb3_train.training_seeds(config.seed, 8) == [300_009 + i for i in range(8)]  # the trainer's formula
    assert periodic == list(range(1_000_000, 1_000_005))
    SeedLog.seeds = []
    evaluate(Config(task="SimpleDoorKey", loaddir=result.run_dir, num_eval=6, env_seed_list=[2_000_000], video=0), {})
    assert SeedLog.seeds == list(range(2_000_000, 2_000_006)) and not set(training) & set(SeedLog.seeds)
    for seed in (9, 10, 20, 123_456, 2**32 - 1):  # any run seed: training seeds below every evaluation seed
        assert max(sb3_train.training_seeds(seed, sb3_train.ZOO_PPO["n_envs"])) < 1_000_000


def test_sweep_gives_the_sb3_results_row_and_a_rerun_trains_nothing(tmp_path):
    args = [sys.executable, os.path.join(ROOT, "main.py"), "sweep", "--tasks", "SimpleDoorKey", "--seeds", "0",
            "--variants", "sb3_ppo", "--max_env_steps", "1024", "--eval_interval", "1", "--num_eval", "2",
            "--final_eval", "3", "--num_cpus", "1", "--video", "0", "--logdir", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for expected in (": finished", ": done before"):
        result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0 and expected in result.stdout, result.stdout + result.stderr
    run_dir = tmp_path / "ppo" / "SimpleDoorKey" / "sb3_ppo-0"
    assert json.load(open(run_dir / "final_eval.json"))["overall"]["episodes"] == 3
    assert len(read_metrics(str(run_dir))) == 1
    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["task"], r["variant"], r["seed"], r["env_steps"]) for r in rows] == [("SimpleDoorKey", "sb3_ppo", "0", "1024")]
    assert rows[0]["final_success"] != "" and "| SimpleDoorKey | sb3_ppo | 0 |" in (tmp_path / "results.md").read_text()


@pytest.mark.parametrize("args, says", [
    (["--teacher_coef", "10"], "learns without a teacher"),
    (["--teacher_coef", "0", "--sb3_obs", "egocentric"], "has no minigrid egocentric view"),
    (["--teacher_coef", "0", "--recurrent"], "one observation"),
    (["--teacher_coef", "0", "--env_seed_list", "5"], "would reuse training env seeds"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, says):
    argv = ["train", "--task", "SimpleDoorKey", "--policy", "sb3_ppo", "--max_env_steps", "1024", "--logdir",
            str(tmp_path), *args]
    assert main.main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and not os.path.exists(tmp_path / "ppo")


def test_sb3_obs_needs_sb3_ppo_and_a_checkpoint_must_be_what_it_claims(run, tmp_path, capsys):
    task, run_dir = run
    assert main.main(["train", "--task", task, "--sb3_obs", "egocentric", "--logdir", str(tmp_path)]) == 2
    assert "--sb3_obs is a setting of --policy sb3_ppo" in capsys.readouterr().err
    broken = tmp_path / "broken"
    os.makedirs(broken / "checkpoints")
    for name in ("latest.pt", "latest_vecnormalize.pkl"):
        with open(os.path.join(run_dir, "checkpoints", name), "rb") as src:
            (broken / "checkpoints" / name).write_bytes(src.read())
    eval_args = ["eval", "--task", task, "--loaddir", str(broken), "--num_eval", "2"]
    assert main.main(eval_args) == 2
    assert "latest.zip is missing" in capsys.readouterr().err
    (broken / "checkpoints" / "latest.zip").write_bytes(b"not a zip file")
    assert main.main(eval_args) == 2
    err = capsys.readouterr().err
    assert "cannot load its SB3 model" in err and err.count("\n") == 1


def test_a_resume_from_files_of_two_checkpoints_is_one_line(run, tmp_path, capsys):
    """latest.pt (the index) and latest.zip (SB3's model) must be of one checkpoint: an index whose counters are not
    the model's is refused in one line, and the run's files are left as they were."""
    import shutil
    from utils.checkpoint_file import load_checkpoint, save_checkpoint
    task, run_dir = run
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    index = str(copy / "checkpoints" / "latest.pt")
    payload = load_checkpoint(index, require=("config",))
    save_checkpoint({**payload, "iteration": 1, "env_steps": 1024}, index)
    before = (copy / "metrics.csv").read_text()
    assert main.main(["train", "--resume", str(copy), "--max_env_steps", str(2 * STEPS)]) == 2
    err = capsys.readouterr().err
    assert "not of one checkpoint" in err and err.count("\n") == 1
    assert (copy / "metrics.csv").read_text() == before


def test_an_episode_is_a_success_only_when_it_ends_by_itself_on_a_reward_as_in_the_projects_ppo():
    """SB3's training episodes count as successes as the project's PPO counts them (env.episode_success): ended by
    the env (not cut at the step limit) on a positive reward. PickupObjects pays each object, so a return above 0
    is not a success: an episode cut at 400 steps with two objects collected is not one."""
    log = sb3_train._episode_log()
    episodes = [({"episode": {"r": 2.0, "l": 400}, "TimeLimit.truncated": True}, 0.0),   # cut, two objects
                ({"episode": {"r": 5.0, "l": 210}, "TimeLimit.truncated": False}, 0.8),   # all five: ended by the env
                ({"episode": {"r": 0.0, "l": 90}, "TimeLimit.truncated": False}, 0.0),    # ended without reward
                ({}, 0.5)]                                                                # still running
    log.locals = {"infos": [info for info, _ in episodes], "rewards": [reward for _, reward in episodes]}
    assert log._on_step()
    assert log.finished == [(2.0, 400, False), (5.0, 210, True), (0.0, 90, False)]


def test_the_sb3_students_evaluation_envs_are_made_once_and_released():
    import functools
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
    from planner.task_spec import task_config
    env_id = task_config("SimpleDoorKey")["env_id"]
    venv = VecNormalize(DummyVecEnv([functools.partial(sb3_train.sb3_env, env_id, "memory")]))
    student = sb3_train.Sb3Student(PPO("MlpPolicy", venv, n_steps=64, seed=0), venv, env_id, "memory")
    first = student.episodes([2_000_000, 2_000_001, 2_000_002])
    envs = list(student.envs)
    again = student.episodes([2_000_000, 2_000_001])
    assert len(first) == 3 and len(again) == 2 and len(envs) == 3
    assert all(a is b for a, b in zip(student.envs, envs)) and len(student.envs) == 3  # reused, none made anew
    student.close()
    assert student.envs == []
    venv.close()
