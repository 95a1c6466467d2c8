"""--fork: a new run that starts where another run's checkpoint left off, with some settings changed.

Unchanged settings give exactly the straight run (same computation from the same state); a changed setting
changes what follows the checkpoint and nothing before it; the source run is never touched."""
import json
import os

import pytest
import torch

import main
from tests.helpers import read_metrics, tiny_train_args
from tests.test_resume import run_path, same_weights, scalars

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A straight 4-iteration run and a 2-iteration run of the same settings to fork from."""
    logdir = tmp_path_factory.mktemp("fork")
    assert main.main(tiny_train_args(logdir, "straight", n_itr=4)) == 0
    assert main.main(tiny_train_args(logdir, "src", n_itr=2)) == 0
    src = run_path(logdir, "src")
    with open(os.path.join(src, "checkpoints", "latest.pt"), "rb") as f:
        src_bytes = f.read()
    return {"logdir": logdir, "straight": run_path(logdir, "straight"), "src": src, "src_bytes": src_bytes,
            "src_rows": read_metrics(src, drop_timing=False)}


def untouched(runs):
    with open(os.path.join(runs["src"], "checkpoints", "latest.pt"), "rb") as f:
        assert f.read() == runs["src_bytes"]
    assert read_metrics(runs["src"], drop_timing=False) == runs["src_rows"]


def test_a_fork_with_the_same_settings_is_the_straight_run(runs):
    assert main.main(["train", "--fork", runs["src"], "--savedir", "same", "--n_itr", "4"]) == 0
    fork = run_path(runs["logdir"], "same")
    assert read_metrics(fork) == read_metrics(runs["straight"])
    assert scalars(fork) == scalars(runs["straight"])  # TensorBoard holds the source's history too
    final = torch.load(os.path.join(fork, "checkpoints", "latest.pt"), weights_only=True)
    straight = torch.load(os.path.join(runs["straight"], "checkpoints", "latest.pt"), weights_only=True)
    assert final["iteration"] == 4 and same_weights(final["model"], straight["model"])
    with open(os.path.join(fork, "config.json")) as f:
        assert json.load(f)["fork"] == runs["src"]
    untouched(runs)


def test_a_changed_setting_acts_from_the_checkpoint_on(runs):
    assert main.main(["train", "--fork", runs["src"], "--savedir", "ent", "--n_itr", "4", "--ent_coef", "0.5"]) == 0
    fork, straight = read_metrics(run_path(runs["logdir"], "ent")), read_metrics(runs["straight"])
    assert fork[:2] == straight[:2]
    assert [r["Train/Loss"] for r in fork[2:]] != [r["Train/Loss"] for r in straight[2:]]
    payload = torch.load(os.path.join(run_path(runs["logdir"], "ent"), "checkpoints", "latest.pt"),
                         weights_only=True)
    assert payload["config"]["ent_coef"] == 0.5 and payload["config"]["n_itr"] == 4
    best = torch.load(os.path.join(run_path(runs["logdir"], "ent"), "checkpoints", "best.pt"), weights_only=True)
    assert best["iteration"] > 2  # the best of the fork's own evaluations (each one a new best after none)
    untouched(runs)


def test_an_interrupted_fork_resumes_as_any_run(runs):
    """The fork checkpoints at once, so its folder can be resumed even before its first iteration of its own."""
    assert main.main(["train", "--fork", runs["src"], "--savedir", "resumed", "--n_itr", "3"]) == 0
    fork = run_path(runs["logdir"], "resumed")
    assert main.main(["train", "--resume", fork, "--n_itr", "4"]) == 0
    assert read_metrics(fork) == read_metrics(runs["straight"])


@pytest.mark.parametrize("extra, message", [
    (["--num_envs", "3"], "--num_envs 3 differs from the run's 2: a fork keeps"),
    (["--egocentric"], "--egocentric True differs from the run's False: a fork keeps"),
    (["--clone_steps", "500"], "--clone_steps 500 differs from the run's 0: a fork keeps"),
    (["--task", "LavaDoorKey"], "the run to fork is a SimpleDoorKey run"),
    (["--seed_list", "1"], "the run to fork has seed 0"),
    (["--resume", "x"], "--fork and --resume"),
    (["--n_itr", "2"], "already the budget"),
    (["--savedir", "src"], "exists"),
])
def test_a_fork_that_cannot_be_is_one_line_and_leaves_no_folder(runs, capsys, extra, message):
    before = sorted(os.listdir(os.path.dirname(runs["src"])))
    args = ["train", "--fork", runs["src"], "--savedir", "bad", "--n_itr", "4", *extra]
    assert main.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert sorted(os.listdir(os.path.dirname(runs["src"]))) == before
    untouched(runs)


def test_fork_of_nothing_is_one_line(tmp_path, capsys):
    assert main.main(["train", "--fork", str(tmp_path / "none"), "--savedir", "x"]) == 2
    assert "--fork: no checkpoint at" in capsys.readouterr().err


def test_kept_checkpoints_are_starting_points(runs, tmp_path):
    """--keep_checkpoints keeps every checkpoint (periodic and final); forking from the one of iteration 2 with
    the run's settings gives the straight run again."""
    args = tiny_train_args(tmp_path, "kept", n_itr=4, extra=["--save_interval", "2", "--keep_checkpoints"])
    assert main.main(args) == 0
    kept = run_path(tmp_path, "kept")
    names = sorted(n for n in os.listdir(os.path.join(kept, "checkpoints")) if n.startswith("itr"))
    assert names == ["itr000002.pt", "itr000004.pt"]
    assert read_metrics(kept) == read_metrics(runs["straight"])  # keeping checkpoints changes nothing computed
    start = os.path.join(kept, "checkpoints", "itr000002.pt")
    assert main.main(["train", "--fork", start, "--logdir", str(tmp_path), "--savedir", "from2", "--n_itr", "4"]) == 0
    assert read_metrics(run_path(tmp_path, "from2")) == read_metrics(runs["straight"])


def test_save_minutes_checkpoints_between_save_intervals(runs, tmp_path):
    """Long iterations (DoorKey-16x16: ~41k env steps each) would reach --save_interval 100 only after hours:
    --save_minutes also checkpoints once that much time passed (here a few milliseconds: every iteration), and
    changes nothing computed; 0 leaves only the periodic and final checkpoints."""
    kept = {}
    for name, minutes in (("timed", "0.000001"), ("untimed", "0")):
        args = tiny_train_args(tmp_path, name, n_itr=4, extra=["--save_interval", "100", "--save_minutes", minutes,
                                                               "--keep_checkpoints"])
        assert main.main(args) == 0
        folder = os.path.join(run_path(tmp_path, name), "checkpoints")
        kept[name] = sorted(n for n in os.listdir(folder) if n.startswith("itr"))
        assert read_metrics(run_path(tmp_path, name)) == read_metrics(runs["straight"])
    assert kept == {"timed": [f"itr00000{i}.pt" for i in (1, 2, 3, 4)], "untimed": ["itr000004.pt"]}
