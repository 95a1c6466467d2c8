"""Bad input met by eval, resume and a running training (checkpoints, their configs, NaNs, an LLM server, a sweep):
one line `error: ...` on stderr (no traceback), exit status 2, and a run's checkpoints and metrics never lost."""
import errno
import os

import pytest
import torch

from tests.bad_input import TASK, assert_one_line_error, call, copy_run, edit_checkpoint, run_dir_of
from tests.helpers import read_metrics, run_main, tiny_train_args
from tests.llm_fakes import FakeChatServer, drip_server, honour_n
from utils.errors import UserError

torch.set_num_threads(1)


# -- eval -------------------------------------------------------------------------------------------------------
def test_eval_needs_a_checkpoint_or_the_teacher(capsys):
    rc, out, err = call(capsys, ["eval", "--task", TASK])
    assert_one_line_error(rc, err, "--loaddir", "--eval_teacher")


def test_eval_reads_the_policy_from_the_checkpoint_so_policy_is_a_training_flag(capsys):
    rc, out, err = call(capsys, ["eval", "--task", TASK, "--policy", "sb3_ppo", "--loaddir", "RUN"])
    assert_one_line_error(rc, err, "unrecognized arguments: --policy sb3_ppo")  # not a demand for --teacher_coef


def test_eval_missing_loaddir_or_checkpoint(trained, tmp_path, capsys):
    rc, out, err = call(capsys, ["eval", "--task", TASK, "--loaddir", tmp_path / "nowhere"])
    assert_one_line_error(rc, err, "--loaddir not found")
    rc, out, err = call(capsys, ["eval", "--task", TASK, "--loaddir", trained, "--loadmodel", "nope"])
    assert_one_line_error(rc, err, "checkpoint not found", "nope.pt")


@pytest.mark.parametrize("damage,message", [
    (lambda p: p.write_bytes(b"\x00garbage" * 100), "is corrupt"),
    (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "is corrupt"),
    (lambda p: torch.save({"weights": torch.zeros(3)}, p), "not a checkpoint of this project"),
    (lambda p: edit_checkpoint(p, lambda c: c.update(obs_shape=[10, 10, 8])), "observation shape [10, 10, 8]"),
    (lambda p: edit_checkpoint(p, lambda c: c["model"].update({k: torch.zeros(3) for k in list(c["model"])[:1]})),
     "weights do not fit"),
    (lambda p: edit_checkpoint(p, lambda c: c["config"].update(task="LavaDoorKey")), "checkpoint is for task LavaDoorKey"),
])
def test_eval_bad_checkpoint(trained, tmp_path, capsys, damage, message):
    run = copy_run(trained, tmp_path)
    damage(run / "checkpoints" / "latest.pt")
    rc, out, err = call(capsys, ["eval", "--task", TASK, "--loaddir", run, "--num_eval", "1"])
    assert_one_line_error(rc, err, message)


def test_eval_checkpoint_of_another_task(trained, capsys):
    rc, out, err = call(capsys, ["eval", "--task", "ColoredDoorKey", "--loaddir", trained, "--num_eval", "1"])
    assert_one_line_error(rc, err, "checkpoint is for task SimpleDoorKey, not ColoredDoorKey")


def test_corrupt_checkpoint_as_a_real_process(trained, tmp_path):
    run = copy_run(trained, tmp_path)
    (run / "checkpoints" / "latest.pt").write_bytes(b"PK\x03\x04 truncated zip")
    result = run_main(["eval", "--task", TASK, "--loaddir", str(run)], env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: checkpoint "), result.stderr


# -- resume -----------------------------------------------------------------------------------------------------
def test_resume_missing_folder_or_checkpoint(tmp_path, capsys):
    rc, out, err = call(capsys, ["train", "--resume", tmp_path / "nowhere"])
    assert_one_line_error(rc, err, "run folder not found")
    (tmp_path / "empty-0").mkdir()
    rc, out, err = call(capsys, ["train", "--resume", tmp_path / "empty-0"])
    assert_one_line_error(rc, err, "has no checkpoint")
    assert os.listdir(tmp_path / "empty-0") == []


def snapshot(folder):
    return {os.path.relpath(os.path.join(d, f), folder): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(folder) for f in files}


@pytest.mark.parametrize("damage,extra,message", [
    (lambda p: p.write_bytes(p.read_bytes()[:1000]), [], "is corrupt"),
    (lambda p: edit_checkpoint(p, lambda c: c.pop("optimizer")), [], "no optimizer"),
    (lambda p: edit_checkpoint(p, lambda c: c.update(obs_shape=[10, 10, 8])), [], "observation shape"),
    (lambda p: edit_checkpoint(p, lambda c: c["envs"].update(env=c["envs"]["env"][:1])), [], "does not fit this run"),
    (lambda p: None, ["--num_envs", "4"], "--num_envs 4 differs from the run's 2"),
    (lambda p: None, ["--task", "TwoDoor"], "is a SimpleDoorKey run"),
])
def test_resume_bad_checkpoint_or_flags_leaves_the_run_untouched(trained, tmp_path, capsys, damage, extra, message):
    run = copy_run(trained, tmp_path, "copy-0")
    damage(run / "checkpoints" / "latest.pt")
    before = snapshot(run)
    rc, out, err = call(capsys, ["train", "--resume", run, "--n_itr", "2", *extra])
    assert_one_line_error(rc, err, message)
    assert snapshot(run) == before


# -- during training --------------------------------------------------------------------------------------------
def test_full_disk_while_saving_keeps_the_previous_checkpoint_and_the_metrics(tmp_path, capsys, monkeypatch):
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("iteration") == 2:
            f.write(b"half a checkpoint")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    rc, out, err = call(capsys, tiny_train_args(tmp_path, n_itr=4))
    run = run_dir_of(tmp_path)
    assert_one_line_error(rc, err, "could not write checkpoint", "No space left on device",
                          "previous checkpoint is kept", f"--resume {run}")
    monkeypatch.undo()
    assert torch.load(os.path.join(run, "checkpoints", "latest.pt"), weights_only=True)["iteration"] == 1
    assert torch.load(os.path.join(run, "checkpoints", "best.pt"), weights_only=True)["iteration"] in (1, 2)
    assert [r["iteration"] for r in read_metrics(run)][:1] == ["1"] and len(read_metrics(run)) <= 2
    assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == ["best.pt", "latest.pt"]
    assert "itr 3/" not in out  # training stopped there


@pytest.mark.parametrize("change,message", [
    (lambda c: c.update(lr="fast"), "lr"),
    (lambda c: c.update(num_envs=-2), "num_envs"),
    (lambda c: c.update(seed=2**70), "seed"),
    (lambda c: c.update(teacher_coef=float("nan")), "teacher_coef"),
    (lambda c: c.update(task=7), "task"),
])
def test_hand_edited_checkpoint_configs(trained, tmp_path, capsys, change, message):
    run = copy_run(trained, tmp_path, "copy-0")
    edit_checkpoint(run / "checkpoints" / "latest.pt", lambda p: change(p["config"]))
    before = snapshot(run)
    rc, out, err = call(capsys, ["train", "--resume", run, "--n_itr", "2"])
    assert_one_line_error(rc, err, message, "settings in")
    assert snapshot(run) == before
    rc, out, err = call(capsys, ["eval", "--task", TASK, "--loaddir", run, "--num_eval", "1"])
    assert_one_line_error(rc, err, message)


def test_eval_refuses_nan_weights_and_mismatched_student_flags(trained, tmp_path, capsys):
    run = copy_run(trained, tmp_path)
    edit_checkpoint(run / "checkpoints" / "latest.pt",
                    lambda p: p["model"].update({k: v * float("nan") for k, v in list(p["model"].items())[:1]}))
    rc, out, err = call(capsys, ["eval", "--task", TASK, "--loaddir", run, "--num_eval", "1"])
    assert_one_line_error(rc, err, "not finite")
    rc, out, err = call(capsys, ["eval", "--task", TASK, "--loaddir", trained, "--recurrent", "--num_eval", "1"])
    assert_one_line_error(rc, err, "--recurrent True does not match the checkpoint's False")
    rc, out, err = call(capsys, ["eval", "--task", TASK, "--loaddir", trained, "--frame_stack", "2", "--num_eval", "1"])
    assert_one_line_error(rc, err, "--frame_stack 2 does not match the checkpoint's 1")
    rc, out, err = call(capsys, ["eval", "--task", TASK, "--loaddir", trained, "--mission_mark", "--num_eval", "1"])
    assert_one_line_error(rc, err, "--mission_mark True does not match the checkpoint's False")
    for bad in ("../../latest", "/etc/passwd", "sub/best"):
        rc, out, err = call(capsys, ["eval", "--task", TASK, "--loaddir", trained, "--loadmodel", bad])
        assert_one_line_error(rc, err, "--loadmodel", "plain name")


@pytest.mark.parametrize("extra,hint", [([], "(try a smaller --lr)"),
                                        (["--count_bonus", "0.01"], "(try a smaller --count_bonus or --lr)")])
def test_a_nan_loss_stops_training_keeping_the_last_good_checkpoint(tmp_path, capsys, monkeypatch, extra, hint):
    import algos.learner.ppo
    real_losses, real_update = algos.learner.ppo.ppo_losses, algos.learner.ppo.PPO.update
    updates = {"done": 0}

    def poisoned(*args, **kwargs):
        out = real_losses(*args, **kwargs)
        if updates["done"] >= 2:  # the third update (iteration 3) goes wrong
            out["value"] = out["value"] * float("nan")
        return out

    def counted(self, *args, **kwargs):
        logs = real_update(self, *args, **kwargs)
        updates["done"] += 1
        return logs
    monkeypatch.setattr(algos.learner.ppo, "ppo_losses", poisoned)
    monkeypatch.setattr(algos.learner.ppo.PPO, "update", counted)
    rc, out, err = call(capsys, tiny_train_args(tmp_path, n_itr=4, extra=extra))
    run = run_dir_of(tmp_path)
    assert_one_line_error(rc, err, "training diverged at iteration 3", "non-finite value", f"--resume {run}", hint)
    payload = torch.load(os.path.join(run, "checkpoints", "latest.pt"), weights_only=True)
    assert payload["iteration"] == 2 and all(torch.isfinite(v).all() for v in payload["model"].values())
    assert len(read_metrics(run)) == 2


def test_a_password_in_the_llm_url_is_never_written(tmp_path, capsys):
    with FakeChatServer(honour_n(lambda k: "Action: {explore}")) as fake:
        url = fake.url.replace("http://", "http://user:s3cret@")
        rc, out, err = call(capsys, tiny_train_args(tmp_path, n_itr=1, extra=["--llm_url", url, "--n_ask", "1"]))
        assert rc == 0, err
        run = run_dir_of(tmp_path)
        for name, data in snapshot(run).items():
            assert b"s3cret" not in data, name
        assert "s3cret" not in out + err
        rc, out, err = call(capsys, ["train", "--resume", run, "--n_itr", "2"])
        assert_one_line_error(rc, err, "password is not kept", "--llm_url")
        rc, out, err = call(capsys, ["train", "--resume", run, "--n_itr", "2", "--llm_url", url])
        assert rc == 0, err


def test_a_server_dripping_its_replies_ends_training_with_one_line(tmp_path):
    """Issue 22: headers, then a byte a second of a Content-Length never reached. The start-up check (model list,
    then one request with one retry) gives up after its deadlines: an error naming them, not a wait of the 100,000 s
    the replies would take (run_main's time limit, far above the deadlines and start-up, is what a hang would hit;
    nothing here depends on how fast this machine is)."""
    with drip_server() as fake:
        result = run_main(["train", "--task", TASK, "--n_itr", "1", "--num_envs", "2", "--logdir", tmp_path,
                           "--llm_url", fake.url, "--llm_retries", "1", "--llm_timeout", "3"],
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: LLM teacher not usable"), result.stderr
    assert "timed out after 3 s" in result.stderr
    assert not os.path.exists(os.path.join(tmp_path, "ppo"))


# -- a sweep that could never schedule a run: refused before Ray starts; a stopped sweep's queued runs end at once --
@pytest.fixture
def no_ray(monkeypatch):
    """A sweep that reaches Ray fails the test (instead of waiting for runs that cannot be scheduled)."""
    import algos.experiments.sweep_ray

    def started(*args, **kwargs):
        raise AssertionError("Ray would have started")
    monkeypatch.setattr(algos.experiments.sweep_ray, "run_all", started)


SWEEP_ONE = ["sweep", "--tasks", TASK, "--seeds", "0", "--variants", "ppo", "--n_itr", "1"]


@pytest.mark.parametrize("cores,extra,message", [
    (8, ["--num_cpus", "1", "--cpus_per_run", "2"], "--cpus_per_run 2 is more than --num_cpus 1: no run could ever "
                                                    "start (give --cpus_per_run 1 or less)"),
    (2, ["--cpus_per_run", "3"], "--cpus_per_run 3 is more than this machine's 2 CPU cores"),
    (1, ["--cpus_per_run", "256"], "--cpus_per_run 256 is more than this machine's 1 CPU cores"),
])
def test_a_sweep_whose_runs_could_never_start_is_refused_before_ray(tmp_path, capsys, monkeypatch, no_ray, cores,
                                                                     extra, message):
    import utils.cpu_share
    monkeypatch.setattr(utils.cpu_share, "cpu_cores", lambda: cores)
    rc, out, err = call(capsys, SWEEP_ONE + ["--logdir", tmp_path / "log", *extra])
    assert_one_line_error(rc, err, message)
    assert not (tmp_path / "log").exists()


def test_a_ray_cluster_without_a_node_large_enough_is_refused():
    from algos.experiments.sweep import SweepOptions
    from algos.experiments.sweep_ray import check_cpus, largest_node_cpus
    nodes = [{"Alive": True, "Resources": {"CPU": 2.0}}, {"Alive": False, "Resources": {"CPU": 64.0}},
             {"Alive": True, "Resources": {"CPU": 4.0}}, {"Alive": True, "Resources": {}}]
    assert largest_node_cpus(nodes) == 4 and largest_node_cpus([]) == 0
    check_cpus(SweepOptions(cpus_per_run=4), 4, "the cluster")
    with pytest.raises(UserError, match="--cpus_per_run 5 is more than the cluster: no run could ever start"):
        check_cpus(SweepOptions(cpus_per_run=5), 4, "the cluster")


def test_a_run_or_teacher_queued_when_the_sweep_was_stopped_ends_untouched(tmp_path):
    """After Ctrl-C/SIGTERM the sweep waits for its runs: one that Ray starts only then must end at once (no run
    folder, no evaluation), not train an iteration or measure the teacher."""
    from algos.config import Config
    from algos.experiments.sweep import SweepOptions, plan_runs
    from algos.experiments.sweep_ray import NOT_STARTED, run_one, teacher_one
    options = SweepOptions(tasks=[TASK], variants=["llm4teach"])
    (task, variant, seed, run), = plan_runs(Config(logdir=str(tmp_path)), options, {})
    stop_file = tmp_path / ".sweep-stop-x"
    stop_file.touch()
    out = run_one(run, options, {}, str(stop_file))
    assert out["status"] == "stopped" and out["message"] == NOT_STARTED
    assert teacher_one(run, options, str(stop_file))["status"] == "stopped"
    assert os.listdir(tmp_path) == [stop_file.name]
