import argparse
import json
import os

import numpy as np
import pytest
from PIL import Image

from utils.errors import UserError
from utils.logger import RunLogger
from algos.config import Config
from algos.experiments.plot import (add_plot_arguments, aggregate, group_runs, load_run, load_runs, run_plot,
                                    teacher_lines)
from algos.experiments.run_files import find_runs, split_run_name
from algos.run.teacher_eval import read_teacher_evals, record_teacher_eval

STEPS_PER_ITER = 1000


def make_run(task_dir, name, seed, n_iter, rate, eval_every=5, teacher_coef=10.0, steps=STEPS_PER_ITER):
    """A run folder written by the real RunLogger: success rises linearly at `rate` per 1000 steps."""
    run_dir = os.path.join(task_dir, f"{name}-{seed}")
    os.makedirs(run_dir)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump({"task": os.path.basename(task_dir), "seed": seed, "savedir": run_dir,
                   "teacher_coef": teacher_coef}, f)
    log = RunLogger(run_dir)
    for it in range(1, n_iter + 1):
        env_steps = it * steps
        success = min(1.0, rate * env_steps / 1000)
        metrics = {"Train/Success Rate": success * 0.9, "Train/Return Mean": success * 0.5}
        if eval_every and it % eval_every == 0:
            metrics.update({"Test/Success Rate": success, "Test/Return": success * 0.6, "Test/Eplen": 20.0})
        log.log(it, env_steps, it * 0.5, metrics)
    log.close()
    return run_dir


@pytest.fixture
def runs(tmp_path):
    task_dir = tmp_path / "log" / "ppo" / "SimpleDoorKey"
    dirs = {
        ("llm4teach", 1): make_run(str(task_dir), "llm4teach", 1, 40, 0.03),
        ("llm4teach", 2): make_run(str(task_dir), "llm4teach", 2, 36, 0.02, steps=1100),
        ("ppo", 1): make_run(str(task_dir), "ppo", 1, 40, 0.01, teacher_coef=0.0),
        ("ppo", 2): make_run(str(task_dir), "ppo", 2, 40, 0.005, teacher_coef=0.0, eval_every=0),
    }
    return tmp_path, task_dir, dirs


def parse(argv):
    return add_plot_arguments(argparse.ArgumentParser()).parse_args(argv)


def test_run_plot_writes_png(runs, tmp_path):
    root, task_dir, dirs = runs
    record_teacher(task_dir, 0.95, 0.8, 50)
    out = tmp_path / "figs" / "curves.png"
    assert run_plot(parse(list(dirs.values()) + ["--out", str(out)])) == 0
    with Image.open(out) as im:
        assert im.format == "PNG"
        w, h = im.size
        assert 500 <= w <= 3000 and 350 <= h <= 2000
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
        assert len(np.unique(pixels, axis=0)) > 20  # lines, band, text: not a blank image
    # return metric, found from the log/ folder
    out2 = tmp_path / "ret.png"
    run_plot(parse([str(root / "log"), "--metric", "return", "--out", str(out2)]))
    assert out2.stat().st_size > 1000


def test_grouping_and_sources(runs):
    root, task_dir, dirs = runs
    groups = group_runs(load_runs([str(task_dir)]))
    assert list(groups) == [("SimpleDoorKey", "llm4teach"), ("SimpleDoorKey", "ppo")]
    assert [r.seed for r in groups[("SimpleDoorKey", "llm4teach")]] == [1, 2]
    ppo1, ppo2 = groups[("SimpleDoorKey", "ppo")]
    assert ppo1.column == "Test/Success Rate" and len(ppo1.x) == 8       # evaluated every 5 iterations
    assert ppo2.column == "Train/Success Rate" and len(ppo2.x) == 40     # never evaluated
    assert split_run_name("llm4teach-kick-3") == ("llm4teach-kick", 3)
    assert split_run_name("noseed") == ("noseed", None)
    # the same runs named one by one or through log/ are found once each
    assert len(find_runs([str(root / "log"), dirs[("ppo", 1)]])) == 4


def test_runs_of_one_name_from_two_experiments_are_not_averaged_together(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_run(str(tmp_path / "log" / "paper" / "ppo" / "ColoredDoorKey"), "llm4teach", 0, 10, 0.03)
    make_run(str(tmp_path / "log" / "paper" / "ppo" / "ColoredDoorKey"), "llm4teach", 1, 10, 0.03)
    make_run(str(tmp_path / "log" / "paper_anneal" / "ppo" / "ColoredDoorKey"), "llm4teach", 0, 10, 0.05)
    groups = group_runs(load_runs([str(tmp_path / "log")]))
    assert {k: [r.seed for r in v] for k, v in groups.items()} == {
        ("ColoredDoorKey", f"llm4teach ({os.path.join('log', 'paper')})"): [0, 1],
        ("ColoredDoorKey", f"llm4teach ({os.path.join('log', 'paper_anneal')})"): [0]}


def test_aggregate_mean_std():
    a = (np.array([0.0, 10.0]), np.array([0.0, 1.0]))
    b = (np.array([0.0, 5.0, 10.0, 20.0]), np.array([0.0, 1.0, 1.0, 1.0]))
    grid, mean, std = aggregate([a, b], n_points=11)
    assert np.allclose(grid, np.arange(11))  # the range both cover
    i = 5
    assert mean[i] == pytest.approx(0.75) and std[i] == pytest.approx(0.25)
    assert mean[0] == 0 and std[0] == 0 and mean[-1] == pytest.approx(1.0)


def test_aggregate_of_real_runs(runs):
    _, task_dir, dirs = runs
    r1, r2 = load_run(dirs[("llm4teach", 1)]), load_run(dirs[("llm4teach", 2)])
    grid, mean, std = aggregate([(r1.x, r1.y), (r2.x, r2.y)])
    assert grid[0] == pytest.approx(5500) and grid[-1] == pytest.approx(38500)  # last evals: 40000 and 35 * 1100
    expected = np.stack([np.interp(grid, r1.x, r1.y), np.interp(grid, r2.x, r2.y)])
    assert np.allclose(mean, expected.mean(0)) and np.allclose(std, expected.std(0))


def record_teacher(task_dir, success, ret, episodes, **teacher):
    """A teacher-alone measurement as `main.py eval --eval_teacher --num_eval EPISODES [teacher settings]` records."""
    config = Config(task="SimpleDoorKey", num_eval=episodes, **teacher)
    return record_teacher_eval(str(task_dir), config, {"success": np.float64(success), "return": ret, "length": 12.5,
                                                       "episodes": episodes})


def test_the_teacher_line_is_the_runs_own_teacher(tmp_path, runs):
    """Issue 62: teacher_eval.json keeps one measurement per teacher and episodes; a plot draws the teacher of its
    runs only (their config.json), never another teacher's figure; plain PPO runs have no teacher line."""
    _, task_dir, dirs = runs
    taught, plain = load_run(dirs[("llm4teach", 1)]), load_run(dirs[("ppo", 1)])
    assert read_teacher_evals(str(tmp_path / "nothing")) == [] and teacher_lines([taught], "success") == []
    record_teacher(task_dir, 0.9, 0.7, 20)
    assert teacher_lines([taught], "success") == [("teacher alone, 20 ep", 0.9)]
    assert teacher_lines([taught, plain], "return") == [("teacher alone, 20 ep", 0.7)]
    assert teacher_lines([plain], "success") == []
    path, n = record_teacher(task_dir, 0.1, 0.05, 1, soft_planner=True, answers="official")  # a quick look at another
    assert n == 2 and teacher_lines([taught], "success") == [("teacher alone, 20 ep", 0.9)]
    assert record_teacher(task_dir, 0.8, 0.6, 20)[1] == 2  # the same teacher on the same episodes: replaced
    assert teacher_lines([taught], "success") == [("teacher alone, 20 ep", 0.8)]
    record_teacher(task_dir, 0.85, 0.6, 40)  # on more episodes: that one is drawn
    assert teacher_lines([taught], "success") == [("teacher alone, 40 ep", 0.85)]
    assert len(read_teacher_evals(str(task_dir))) == 3 and not [f for f in os.listdir(task_dir) if f.endswith(".tmp")]
    with open(os.path.join(dirs[("llm4teach", 2)], "config.json"), "w") as f:  # a second teacher among the runs
        json.dump({"task": "SimpleDoorKey", "teacher_coef": 10.0, "soft_planner": True}, f)
    soft = load_run(dirs[("llm4teach", 2)])
    soft.name = "llm4teach_soft"
    assert teacher_lines([taught, soft], "success") == [("teacher alone (llm4teach), 40 ep", 0.85),
                                                        ("teacher alone (llm4teach_soft), 1 ep", 0.1)]
    (task_dir / "teacher_eval.json").write_text(json.dumps({"task": "SimpleDoorKey", "success_rate": 0.9,
                                                            "mean_return": 0.7, "mean_length": 9, "num_eval": 9}))
    assert teacher_lines([taught], "success") == []  # the first format says nothing of its teacher: matches none
    (task_dir / "teacher_eval.json").write_text("{bad")
    with pytest.raises(UserError, match="not valid JSON"):
        read_teacher_evals(str(task_dir))


def test_refuses_missing_and_empty_runs(tmp_path, runs):
    _, task_dir, dirs = runs
    with pytest.raises(UserError, match="no such run folder"):
        run_plot(parse([str(tmp_path / "missing"), "--out", str(tmp_path / "a.png")]))
    empty = tmp_path / "empty-1"
    empty.mkdir()
    RunLogger(str(empty)).close()  # header, no rows
    with pytest.raises(UserError, match="no rows"):
        run_plot(parse([str(empty), dirs[("ppo", 1)], "--out", str(tmp_path / "b.png")]))
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(UserError, match="no metrics.csv"):
        run_plot(parse([str(bare), "--out", str(tmp_path / "c.png")]))
    assert not any((tmp_path / n).exists() for n in ("a.png", "b.png", "c.png"))
    # an empty run found by searching a folder (training just started) is skipped with a warning
    RunLogger(str(task_dir / "starting-3")).close()
    warnings = []
    runs_found = load_runs([str(task_dir)], warn=warnings.append)
    assert len(runs_found) == 4 and len(warnings) == 1 and "starting-3" in warnings[0]


def test_plot_prints_the_file_it_wrote(runs, tmp_path, capsys):
    """Issue 62: `plot --out DIR` wrote DIR/curves.png (or DIR.png) and printed "wrote DIR"."""
    _, _, dirs = runs
    (tmp_path / "figs").mkdir()
    for out, written in [(tmp_path / "figs", tmp_path / "figs" / "curves.png"),
                         (f"{tmp_path / 'new'}{os.sep}", tmp_path / "new" / "curves.png"),
                         (tmp_path / "noext", tmp_path / "noext.png"),
                         (tmp_path / "c.svg", tmp_path / "c.svg")]:
        capsys.readouterr()
        assert run_plot(parse([dirs[("ppo", 1)], "--out", str(out)])) == 0
        assert capsys.readouterr().out.startswith(f"wrote {written} (") and written.is_file()
