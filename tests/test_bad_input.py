"""Bad input: one line `error: ...` on stderr (no traceback), exit status 2, and nothing written half-way (no run
folder when the error is found before training; checkpoints and metrics kept when it happens during training)."""
import errno
import json
import os
import shutil
import time

import pytest
import torch

import main
import planner.task_spec
from tests.helpers import read_metrics, run_main, tiny_train_args
from tests.llm_fakes import FakeChatServer, drip_server, honour_n
from utils.errors import UserError

torch.set_num_threads(1)
TASK = "SimpleDoorKey"


def call(capsys, argv):
    capsys.readouterr()
    try:
        rc = main.main([str(a) for a in argv])
    except SystemExit as e:  # argparse errors exit from inside parse_args
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc, err, *fragments):
    assert rc == 2, err
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def run_dir_of(logdir, name="t", seed=0):
    return os.path.join(str(logdir), "ppo", TASK, f"{name}-{seed}")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 1-iteration run to take checkpoints from (copy it before changing anything)."""
    logdir = tmp_path_factory.mktemp("trained")
    assert main.main(tiny_train_args(logdir, n_itr=1)) == 0
    return run_dir_of(logdir)


def copy_run(trained, tmp_path, name="copy"):
    dest = tmp_path / name
    shutil.copytree(trained, dest)
    return dest


def edit_checkpoint(path, change):
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)


# -- errors found before training: nothing is created ---------------------------------------------------------
CUDA = torch.cuda.is_available()
BEFORE_TRAINING = [
    (["--task", "Nope"], "unknown task 'Nope'; valid tasks: SimpleDoorKey, LavaDoorKey, ColoredDoorKey, TwoDoor"),
    (["--policy", "a2c"], "expected one of ppo, sb3_ppo, got 'a2c'"),
    (["--n_itr", "two"], "expected a positive integer, got 'two'"),
    (["--num_envs", "0"], "--num_envs: expected an integer in [1, 4096], got 0"),
    (["--batch_size", "-4"], "expected a positive integer, got -4"),
    (["--seed_list", "-1"], "expected an integer in [0, 4294967295], got -1"),
    (["--seed_list", "18446744073709551616"], "--seed_list: expected an integer in [0, 4294967295]"),
    (["--adam_eps", "0"], "--adam_eps: expected a finite number > 0, got 0.0"),
    (["--lr", "nan"], "--lr: expected a finite number >= 0, got nan"),
    (["--llm_timeout", "inf"], "--llm_timeout: expected a finite number > 0"),
    (["--workers", "-3"], "--workers"),
    (["--gamma", "1.5"], "expected a number in [0, 1]"),
    (["--n_ask", "0"], "--n_ask: expected an integer in [1, 128], got 0"),
    (["--savedir", "../../x"], "--savedir '../../x': expected a plain name"),
    (["--savedir", "/tmp/abs"], "expected a plain name"),
    (["--bogus", "1"], "unrecognized arguments: --bogus"),
    (["--device", "tpu"], "--device tpu"),
    pytest.param(["--device", "cuda"], "CUDA is not available", marks=pytest.mark.skipif(CUDA, reason="has CUDA")),
    (["--answers", "no/such/answers.json"], "--answers file not found"),
    (["--answers", "nosuchtable"], "--answers nosuchtable: no such answer table; shipped: official"),
    (["--loaddir", "somewhere"], "unrecognized arguments: --loaddir somewhere"),
    (["--seed_list", "1", "1"], "a seed twice"),
    (["--llm_generalise", "1.5"], "--llm_generalise: expected a number in [0, 1], got 1.5"),
    (["--llm_generalise", "0.8"], "--llm_generalise models a live LLM's answers: give --llm_url too"),
    (["--lstm_residual"], "--lstm_residual is a setting of the LSTM student: give --recurrent too"),
    (["--task", "MiniWorld-PutNext-v0", "--mission_mark"], "--mission_mark marks a grid task's map; MiniWorld-PutNext-v0"),
    (["--policy", "sb3_ppo", "--teacher_coef", "0", "--mission_mark"], "no --recurrent, --frame_stack 1, --mission_mark"),
    (["--task", "MiniWorld-PutNext-v0", "--egocentric"], "--egocentric turns a grid task's map; MiniWorld-PutNext-v0"),
    (["--policy", "sb3_ppo", "--teacher_coef", "0", "--egocentric"], "--mission_mark, --egocentric)"),
    (["--clone_steps", "-5"], "--clone_steps: expected an integer in [0, 10000000], got -5"),
    (["--clone_replay"], "--clone_replay replays a warm start's steps at the teacher term's weight: give"),
    (["--clone_replay", "--clone_steps", "100", "--teacher_coef", "0"], "give --clone_steps and a --teacher_coef"),
    (["--policy", "sb3_ppo", "--teacher_coef", "0", "--clone_steps", "100"], "--clone_steps would be ignored"),
]


@pytest.mark.parametrize("extra,message", BEFORE_TRAINING)
def test_bad_train_flags(tmp_path, capsys, extra, message):
    logdir = tmp_path / "log"
    rc, out, err = call(capsys, tiny_train_args(logdir, n_itr=1) + extra)
    assert_one_line_error(rc, err, message)
    assert not logdir.exists()


@pytest.mark.parametrize("content,message", [
    ("{not json", "is not valid JSON"),
    (json.dumps({"tasks": {"simpledoorkey": {"Agent sees <nothing>, holds <nothing>.":
                                             {"plans": ["explore"], "probs": [1.0, 0.5]}}}}), "equal-length"),
    (json.dumps({"tasks": {}}), "has no table tasks.simpledoorkey"),
])
def test_malformed_recorded_answer_file(tmp_path, capsys, content, message):
    bad = tmp_path / "answers.json"
    bad.write_text(content)
    logdir = tmp_path / "log"
    rc, out, err = call(capsys, tiny_train_args(logdir, n_itr=1, extra=["--answers", bad]))
    assert_one_line_error(rc, err, message, str(bad))
    assert not logdir.exists()


@pytest.mark.parametrize("content,message", [
    ("{not json", "is corrupt"),
    (json.dumps({"format": "something-else", "entries": {}}), "is not a plan cache"),
])
def test_malformed_plan_cache(tmp_path, capsys, content, message):
    bad = tmp_path / "plan_cache.json"
    bad.write_text(content)
    logdir = tmp_path / "log"
    with FakeChatServer(honour_n(lambda k: "Action: {explore}")) as fake:
        rc, out, err = call(capsys, tiny_train_args(logdir, n_itr=1, extra=["--llm_url", fake.url,
                                                                         "--plan_cache", bad]))
    assert_one_line_error(rc, err, message, str(bad))
    assert not logdir.exists()


def plan_cache_cases():
    cases = [(lambda tmp: tmp / "a-file" / "cache.json", "a-file is not a folder"),
             (lambda tmp: tmp, "is a folder; give a file in it"),
             (lambda tmp: "/dev/null", "--plan_cache /dev/null is not a regular file (a device, pipe or socket)")]
    if os.path.isdir("/proc"):
        cases.append((lambda tmp: "/proc/nope/cache.json", "--plan_cache /proc/nope/cache.json: cannot create folders "
                                                           "in /proc"))
    if os.geteuid() != 0:  # root writes into read-only folders
        cases.append((lambda tmp: tmp / "ro" / "cache.json", "cache.json: cannot write in"))
    return cases


@pytest.mark.parametrize("where,message", plan_cache_cases())
def test_a_plan_cache_path_that_cannot_be_a_cache_is_refused_before_the_run_folder(tmp_path, capsys, where, message):
    """Issue 62: checked up front (not a worker's FileNotFoundError after the run folder was made, nor a device
    called corrupt with the advice to delete it)."""
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "ro").mkdir(mode=0o500)
    logdir = tmp_path / "log"
    try:
        with FakeChatServer(honour_n(lambda k: "Action: {explore}")) as fake:
            for command in (tiny_train_args(logdir, n_itr=1), ["eval", "--task", TASK, "--eval_teacher", "--num_eval",
                                                               "1", "--logdir", logdir]):
                rc, out, err = call(capsys, command + ["--llm_url", fake.url, "--plan_cache", where(tmp_path)])
                assert_one_line_error(rc, err, message)
                assert not logdir.exists() and not fake.requests
    finally:
        (tmp_path / "ro").chmod(0o700)
    assert (tmp_path / "a-file").read_text() == "not a folder" and os.listdir(tmp_path / "ro") == []


def test_a_run_at_its_budget_names_the_budget_it_reached(trained, tmp_path, capsys):
    """Issue 62: a run ended by --max_env_steps is advised to raise --max_env_steps, not --n_itr."""
    run = copy_run(trained, tmp_path)  # 1 iteration of --n_itr 1
    for extra, advice in [([], "pass a larger --n_itr"),
                          (["--n_itr", "5", "--max_env_steps", "10"], "pass a larger --max_env_steps"),
                          (["--max_env_steps", "10"], "pass a larger --n_itr and --max_env_steps")]:
        rc, out, err = call(capsys, ["train", "--resume", run, *extra])
        assert rc == 0 and out.rstrip().endswith(f"nothing to do; {advice}"), out + err
        rc, out, err = call(capsys, ["train", "--fork", run, "--logdir", tmp_path / "forks", *extra])
        assert_one_line_error(rc, err, "already the budget", advice)
        assert err.rstrip().endswith(advice)


def test_unwritable_log_directory(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    rc, out, err = call(capsys, tiny_train_args(blocker / "log", n_itr=1))
    assert_one_line_error(rc, err, "cannot create log folder", "is not a folder")
    assert blocker.read_text() == "not a folder"


def test_eval_teacher_with_an_unwritable_log_directory(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    rc, out, err = call(capsys, ["eval", "--task", TASK, "--eval_teacher", "--num_eval", "1", "--logdir", blocker])
    assert_one_line_error(rc, err, "cannot create log folder", "is not a folder")
    assert out == ""  # found before evaluating


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_log_directory(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        rc, out, err = call(capsys, tiny_train_args(ro, n_itr=1))
    finally:
        ro.chmod(0o700)
    assert_one_line_error(rc, err, "not writable")
    assert os.listdir(ro) == []


def test_existing_run_folder_is_not_overwritten(trained, tmp_path, capsys):
    run = copy_run(trained, tmp_path / "log" / "ppo" / TASK, "t-0")
    before = sorted(os.listdir(run))
    rc, out, err = call(capsys, tiny_train_args(tmp_path / "log", n_itr=1))
    assert_one_line_error(rc, err, "already exists", "--resume")
    assert sorted(os.listdir(run)) == before


@pytest.fixture
def bad_tasks_file(tmp_path, monkeypatch):
    """configs/tasks.json replaced by a temporary file (the cached settings are dropped before and after)."""
    path = tmp_path / "tasks.json"
    monkeypatch.setattr(planner.task_spec, "CONFIG_DIR", tmp_path)
    planner.task_spec.all_tasks.cache_clear()
    yield path
    planner.task_spec.all_tasks.cache_clear()


GOOD_TASK = {"env_id": "MiniGrid-SimpleDoorKey-Min5-Max10-View3", "prompt": "simpledoorkey",
             "answers": "simpledoorkey", "object_names": "plain"}


@pytest.mark.parametrize("content,message", [
    ("{\"SimpleDoorKey\": ", "task settings"),
    (json.dumps({"SimpleDoorKey": {**GOOD_TASK, "env_id": 3}}), "needs a string 'env_id'"),
    (json.dumps({"SimpleDoorKey": {k: v for k, v in GOOD_TASK.items() if k != "prompt"}}), "needs a string 'prompt'"),
    (json.dumps({"SimpleDoorKey": {**GOOD_TASK, "object_names": "fancy"}}), "object_names must be one of"),
    (json.dumps({"SimpleDoorKey": {**GOOD_TASK, "score": "objects"}}), "score must be one of"),
    (json.dumps({"SimpleDoorKey": {**GOOD_TASK, "reduced": {"prompt": "minigrid_reduced"}}}), "reduced must be"),
    (json.dumps({"SimpleDoorKey": {**GOOD_TASK, "reduced": {"prompt": "x", "object_names": "fancy"}}}),
     "reduced must be"),
])
def test_malformed_tasks_config(bad_tasks_file, tmp_path, capsys, content, message):
    bad_tasks_file.write_text(content)
    with pytest.raises(UserError) as info:
        planner.task_spec.task_names()
    assert message in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(UserError):
        planner.task_spec.task_config("SimpleDoorKey")
    logdir = tmp_path / "log"
    rc, out, err = call(capsys, tiny_train_args(logdir, n_itr=1))
    assert_one_line_error(rc, err, message)
    assert not logdir.exists()


def test_missing_tasks_config(bad_tasks_file):
    with pytest.raises(UserError, match="task settings not found"):
        planner.task_spec.task_names()


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


# -- hardening, round 2 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra,message", [
    (["--loadmodel", "nosuch"], "unrecognized arguments: --loadmodel nosuch"),
])
def test_eval_only_flags_are_refused_by_train(tmp_path, capsys, extra, message):
    rc, out, err = call(capsys, tiny_train_args(tmp_path / "log", n_itr=1) + extra)
    assert_one_line_error(rc, err, message)


@pytest.mark.parametrize("content,message", [
    ({"tasks": {"simpledoorkey": {"description": ["not", "text"], "example": "x"}}}, "needs a string 'description'"),
    ({"tasks": {"simpledoorkey": {"description": "d"}}}, "a string 'example'"),
    ({"tasks": "nope"}, "needs a string"),
])
def test_malformed_prompt_file(tmp_path, monkeypatch, capsys, content, message):
    (tmp_path / "prompts.json").write_text(json.dumps(content))
    (tmp_path / "tasks.json").write_text((planner.task_spec.CONFIG_DIR / "tasks.json").read_text())
    monkeypatch.setattr(planner.task_spec, "CONFIG_DIR", tmp_path)
    planner.task_spec.all_tasks.cache_clear()
    try:
        with FakeChatServer(honour_n(lambda k: "Action: {explore}")) as fake:
            rc, out, err = call(capsys, tiny_train_args(tmp_path / "log", n_itr=1, extra=["--llm_url", fake.url]))
    finally:
        planner.task_spec.all_tasks.cache_clear()
    assert_one_line_error(rc, err, message, "prompts.json")


@pytest.mark.parametrize("probs", [[1e308, 1e308], ["Infinity", 1.0], [float("nan"), 1.0]])
def test_recorded_answers_with_probabilities_that_are_not_finite(tmp_path, capsys, probs):
    table = {"tasks": {"simpledoorkey": {"Agent sees <nothing>, holds <nothing>.":
                                         {"plans": ["explore", "go to <key>"], "probs": probs}}}}
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(table).replace('"Infinity"', "Infinity"))
    rc, out, err = call(capsys, tiny_train_args(tmp_path / "log", n_itr=1, extra=["--answers", path]))
    assert_one_line_error(rc, err, "finite")


@pytest.mark.parametrize("plans,message", [
    (None, "must be a list of strings"),
    ("explore", "must be a list of strings"),
    ([1, 2], "must be a list of strings"),
])
def test_plan_cache_entries_of_the_wrong_shape(tmp_path, capsys, plans, message):
    from planner.factory import build_planner
    from tests.helpers import planner_config
    cache = tmp_path / "plan_cache.json"
    with FakeChatServer(honour_n(lambda k: "Action: {explore}")) as fake:
        config = planner_config("--llm_url", fake.url, "--n_ask", "1", "--plan_cache", cache)
        build_planner(config, planner.task_spec.task_config(TASK), tmp_path).plans("Agent sees <nothing>, holds <nothing>.")
        data = json.loads(cache.read_text())
        for entry in data["entries"].values():
            entry["plans"] = plans
        cache.write_text(json.dumps(data))
        rc, out, err = call(capsys, tiny_train_args(tmp_path / "log", n_itr=1, extra=[
            "--llm_url", fake.url, "--n_ask", "1", "--plan_cache", cache]))
    assert_one_line_error(rc, err, message, str(cache))


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
    then one request with one retry) gives up after its deadlines: an error in seconds, not a hang."""
    with drip_server() as fake:
        start = time.monotonic()
        result = run_main(["train", "--task", TASK, "--n_itr", "1", "--num_envs", "2", "--logdir", tmp_path,
                           "--llm_url", fake.url, "--llm_retries", "1", "--llm_timeout", "3"], timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
        seconds = time.monotonic() - start
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: LLM teacher not usable"), result.stderr
    assert "timed out after 3 s" in result.stderr
    assert seconds < 60  # about 3 + 2 x 3 s of deadlines (and start-up), not the 100000 s the replies would take
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
