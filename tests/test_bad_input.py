"""Bad input found before a training starts (flags, config files, answer tables, plan caches, log folders): one
line `error: ...` on stderr (no traceback), exit status 2, and nothing written half-way (no run folder created, an
existing one untouched). What eval, resume and a running training meet: tests/test_bad_input_runs.py."""
import json
import os

import pytest
import torch

import planner.task_spec
from tests.bad_input import TASK, assert_one_line_error, call, copy_run
from tests.helpers import tiny_train_args
from tests.llm_fakes import FakeChatServer, honour_n
from utils.errors import UserError

torch.set_num_threads(1)


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


# -- config files and flags, round 2 -----------------------------------------------------------------------------------------
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
