"""`main.py sweep` on a real local Ray (2 CPUs): a tiny grid of 2 tasks x 2 seeds x 2 variants produces its 8 runs
and the tables; a rerun trains nothing; a sweep killed half-way (SIGKILL to its process group) resumes; Ctrl-C
stops every run with a checkpoint."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from algos.config import Config
from algos.experiments.sweep import SweepOptions, load_variants, plan_runs
from algos.experiments.sweep_ray import STOP_FILE
from tests.helpers import ROOT, read_metrics
from utils.errors import UserError

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TINY = ["--num_envs", "2", "--traj_per_itr", "2", "--batch_size", "32", "--eval_interval", "1", "--num_eval", "2",
        "--final_eval", "3", "--save_interval", "1", "--num_cpus", "2", "--video", "0"]
GRID = ["--tasks", "SimpleDoorKey", "ColoredDoorKey", "--seeds", "0", "1", "--variants", "llm4teach", "ppo"]


def sweep_args(logdir, n_itr, grid=GRID):
    return [sys.executable, os.path.join(ROOT, "main.py"), "sweep", *grid, "--n_itr", str(n_itr), *TINY,
            "--logdir", str(logdir)]


def run_sweep(logdir, n_itr, grid=GRID, timeout=900):
    result = subprocess.run(sweep_args(logdir, n_itr, grid), cwd=ROOT, env=ENV, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def run_dirs(logdir):
    return {f"{t}/{v}-{s}": os.path.join(str(logdir), "ppo", t, f"{v}-{s}")
            for t in ("SimpleDoorKey", "ColoredDoorKey") for v in ("llm4teach", "ppo") for s in (0, 1)}


def snapshot(paths):
    return {name: open(os.path.join(p, "metrics.csv")).read() for name, p in paths.items()}


def test_sweep_runs_the_grid_then_a_rerun_trains_nothing(tmp_path):
    out = run_sweep(tmp_path, n_itr=2)
    dirs = run_dirs(tmp_path)
    for name, path in dirs.items():
        config = json.load(open(os.path.join(path, "config.json")))
        assert config["seed"] == int(name[-1]) and config["teacher_coef"] == (0.0 if "/ppo" in name else 10.0)
        assert len(read_metrics(path)) == 2
        assert json.load(open(os.path.join(path, "final_eval.json")))["overall"]["episodes"] == 3
    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["task"], r["variant"], r["seed"]) for r in rows) == sorted(
        (t, v, s) for t in ("SimpleDoorKey", "ColoredDoorKey") for v in ("llm4teach", "ppo") for s in ("0", "1"))
    assert all(r["final_success"] != "" and int(r["env_steps"]) > 0 for r in rows)
    table = (tmp_path / "results.md").read_text()
    assert table.count("| teacher alone |") == 2 and "| SimpleDoorKey | llm4teach | 0, 1 |" in table
    assert (tmp_path / "SimpleDoorKey.png").stat().st_size > 0 and (tmp_path / "ColoredDoorKey.png").exists()
    teacher, = json.load(open(tmp_path / "ppo" / "SimpleDoorKey" / "teacher_eval.json"))["measurements"]
    assert teacher["num_eval"] == 3 and teacher["env_seeds"] == [2_000_000]
    assert teacher["teacher"]["answers"] == "official"
    assert out.count(": finished") == 10  # 8 runs and 2 teachers, one line each

    before = snapshot(dirs)
    out = run_sweep(tmp_path, n_itr=2)
    assert snapshot(dirs) == before and out.count(": done before") == 8 and ": finished" not in out
    assert "unfinished, without a held-out final evaluation" not in out


def wait_for_checkpoints(proc, logdir, count, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        found = [p for p in run_dirs(logdir).values() if os.path.isfile(os.path.join(p, "checkpoints", "latest.pt"))]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    pytest.fail(f"no {count} checkpoints within {timeout} s")


def iteration_of(path):
    return torch.load(os.path.join(path, "checkpoints", "latest.pt"), weights_only=True)["iteration"]


def test_a_sweep_killed_half_way_resumes(tmp_path):
    proc = subprocess.Popen(sweep_args(tmp_path, n_itr=12), cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        started = wait_for_checkpoints(proc, tmp_path, 2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    partial = {p: iteration_of(p) for p in started}
    assert any(k < 12 for k in partial.values())
    run_sweep(tmp_path, n_itr=12)
    for path in run_dirs(tmp_path).values():
        rows = read_metrics(path)
        assert [int(r["iteration"]) for r in rows] == list(range(1, 13))  # resumed: no gap, no repeat
        assert iteration_of(path) == 12


def test_ctrl_c_stops_every_run_with_a_checkpoint(tmp_path):
    proc = subprocess.Popen(sweep_args(tmp_path, n_itr=60), cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        started = wait_for_checkpoints(proc, tmp_path, 2)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole process group
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err and "stopping" in err, err
    for path in started:
        assert 1 <= iteration_of(path) < 60
        assert len(read_metrics(path)) == iteration_of(path)  # nothing after the checkpoint is lost or orphaned
    # the tables of the stopped runs: their rows without a final success, and a note saying so
    report = subprocess.run(sweep_args(tmp_path, n_itr=60) + ["--report"], cwd=ROOT, env=ENV, capture_output=True,
                            text=True, timeout=300)
    assert report.returncode == 0, report.stderr
    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= len(started) and all(r["final_success"] == "" for r in rows)
    assert f"note: {len(rows)} run(s) unfinished, without a held-out final evaluation" in report.stdout, report.stdout


def test_two_sweeps_in_one_logdir_stop_apart(tmp_path):
    """Ctrl-C to one sweep stops its runs only; another sweep writing to the same logdir trains on."""
    def start(seed):
        grid = ["--tasks", "SimpleDoorKey", "--seeds", seed, "--variants", "ppo"]
        args = sweep_args(tmp_path, n_itr=100000, grid=grid) + ["--num_cpus", "1"]
        return subprocess.Popen(args, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    first, second = start("0"), start("1")
    try:
        wait_for_checkpoints(first, tmp_path, 2)
        os.killpg(first.pid, signal.SIGINT)
        first.communicate(timeout=300)
        assert first.returncode == 130
        other = run_dirs(tmp_path)["SimpleDoorKey/ppo-1"]
        before = len(read_metrics(other))
        deadline = time.monotonic() + 300
        while len(read_metrics(other)) < before + 3 and time.monotonic() < deadline:
            assert second.poll() is None, second.communicate()
            time.sleep(0.5)
        assert len(read_metrics(other)) >= before + 3  # still training after the first sweep stopped
        os.killpg(second.pid, signal.SIGINT)
        second.communicate(timeout=300)
        assert second.returncode == 130
        assert not [f for f in os.listdir(tmp_path) if f.startswith(STOP_FILE)]  # each sweep removed its own
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)


def test_variants_and_grid_checks(tmp_path):
    extra = tmp_path / "variants.json"
    extra.write_text(json.dumps({"fast_decay": {"teacher_coef_decay": 0.05, "teacher_off_after": 500}}))
    options = SweepOptions(tasks=["all"], seeds=[0, 3], variants=["llm4teach_soft", "fast_decay"],
                           variants_file=str(extra))
    assert load_variants(options) == {"llm4teach_soft": {"soft_planner": True},
                                      "fast_decay": {"teacher_coef_decay": 0.05, "teacher_off_after": 500}}
    runs = plan_runs(Config(logdir=str(tmp_path), lr=3e-4), options, {"lr": 3e-4})
    assert len(runs) == 4 * 2 * 2 and {r[0] for r in runs} == {"SimpleDoorKey", "LavaDoorKey", "ColoredDoorKey",
                                                                "TwoDoor"}
    fast = [r[3] for r in runs if r[1] == "fast_decay"]
    assert all(c.teacher_coef_decay == 0.05 and c.lr == 3e-4 and c.savedir == "fast_decay" for c in fast)
    with pytest.raises(UserError, match="unknown variant nope"):
        load_variants(SweepOptions(variants=["nope"]))
    extra.write_text(json.dumps({"bad": {"lr": -1}}))
    with pytest.raises(UserError, match="lr"):
        plan_runs(Config(logdir=str(tmp_path)), SweepOptions(variants=["bad"], variants_file=str(extra)), {})
    with pytest.raises(UserError, match="--savedir"):
        plan_runs(Config(logdir=str(tmp_path), savedir="x"), SweepOptions(), {"savedir": "x"})


def test_task_settings_change_one_tasks_runs_over_the_variant(tmp_path):
    """--task_settings TASK:SETTING=VALUE: that task's runs of every variant get it (over the variant's own value),
    the other tasks' keep theirs; a task outside the sweep, the run's identity, an unknown setting or a bad value
    is one UserError naming it."""
    extra = tmp_path / "variants.json"
    extra.write_text(json.dumps({"fast": {"teacher_coef_decay": 0.05}}))
    options = SweepOptions(tasks=["twodoor", "SimpleDoorKey"], seeds=[0, 1], variants=["llm4teach", "fast"],
                           variants_file=str(extra),
                           task_settings=["TwoDoor:precision=bf16", "TwoDoor:teacher_coef_decay=0.01",
                                          "SimpleDoorKey:device=cpu"])
    runs = plan_runs(Config(logdir=str(tmp_path)), options, {})
    assert len(runs) == 2 * 2 * 2
    for task, variant, _, run in runs:
        assert run.precision == ("bf16" if task == "TwoDoor" else "fp32")
        assert run.device == ("cpu" if task == "SimpleDoorKey" else "auto")
        assert run.teacher_coef_decay == (0.01 if task == "TwoDoor" else 0.05 if variant == "fast" else 0.005)
    for item, problem in [("LavaDoorKey:lr=0.1", "not a task of this sweep"), ("TwoDoor:seed=3", "sets seed"),
                          ("TwoDoor:savedir=x", "sets savedir"), ("TwoDoor:nope=1", "no setting nope"),
                          ("TwoDoor=precision", "expected TASK:SETTING=VALUE"),
                          ("TwoDoor:precision=fp16", "TwoDoor: precision = 'fp16'"),
                          ("TwoDoor:lr=fast", "TwoDoor: lr = 'fast'"), ("TwoDoor:anneal_lr=1", "anneal_lr")]:
        with pytest.raises(UserError, match=problem):
            plan_runs(Config(logdir=str(tmp_path)), SweepOptions(tasks=["TwoDoor"], task_settings=[item]), {})


def test_the_sb3_variants_differ_only_in_what_the_mlp_sees(tmp_path):
    options = SweepOptions(tasks=["MiniGrid-DoorKey-5x5-v0"], variants=["sb3_ppo", "sb3_ppo_ego"])
    runs = {r[1]: r[3] for r in plan_runs(Config(logdir=str(tmp_path)), options, {})}
    assert runs["sb3_ppo"].sb3_obs == "memory" and runs["sb3_ppo_ego"].sb3_obs == "egocentric"
    assert all(c.policy == "sb3_ppo" and c.teacher_coef == 0.0 for c in runs.values())


def test_the_report_of_a_sweep_stopped_before_a_run_ended_an_episode(tmp_path):
    """A run stopped in its first iteration (no episode ended, no evaluation yet) is a row of the tables and no
    curve; the other runs' figure is still drawn."""
    from algos.experiments.sweep import sweep
    from utils.run_dir import run_dir_path
    header = "iteration,env_steps,wall_time,Train/Success Rate,Test/Success Rate\n"
    lines = {0: "1,4096,9.5,0.25,0.5\n2,8192,19.0,0.5,0.75\n", 1: "1,4096,10.0,,\n"}
    for seed, body in lines.items():
        path = run_dir_path(str(tmp_path), "SimpleDoorKey", "ppo", seed)
        os.makedirs(path)
        with open(os.path.join(path, "metrics.csv"), "w") as f:
            f.write(header + body)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump({"task": "SimpleDoorKey", "seed": seed, "savedir": "ppo"}, f)
    result = sweep(Config(logdir=str(tmp_path)), SweepOptions(tasks=["SimpleDoorKey"], seeds=[0, 1],
                                                               variants=["ppo"], report=True))
    with open(tmp_path / "results.csv", newline="") as f:
        rows = {r["seed"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"0", "1"} and rows["0"]["env_steps"] == "8192" and rows["1"]["env_steps"] == "4096"
    assert result.unevaluated == 2 and result.figures == [str(tmp_path / "SimpleDoorKey.png")]
    assert (tmp_path / "SimpleDoorKey.png").stat().st_size > 0
