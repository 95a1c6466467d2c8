"""A live LLM's answers as reusable data: a run with a live (fake) LLM, its plan cache exported as a named
answer table with provenance, and a run from that table (--answers NAME) takes the same teacher distributions and
computes the same run; bad tables and unknown names are one line."""
import json
import math

import numpy as np
import pytest

import env
import main
from planner import answer_tables, export_cache
from planner.base import RecordedPlanner
from planner.factory import build_planner
from planner.live.plan_cache import sha256
from teacher.policy import TeacherPolicy
from tests.helpers import planner_config, read_metrics, tiny_train_args
from tests.llm_fakes import FakeChatServer, Reply, asked_text, completion
from utils.errors import UserError
from planner.task_spec import all_tasks, load_prompt, load_recorded_answers, task_config

SDK = task_config("SimpleDoorKey")


def sampled(i, body):
    """n answers whose plan frequencies depend on the observation text only (2/3 and 1/3 for n = 3)."""
    text = asked_text(body)
    first = "go to <key>, pick up <key>" if "<key>," in text.split("holds")[0] else "explore"
    second = "go to <door>, open <door>" if "<door>" in text else "explore, go to <key>"
    n = int(body.get("n") or 1)
    return Reply.answers([f"Action: {{{first if k % 3 != 2 else second}}}" for k in range(n)])


def with_logprobs(i, body):
    """Greedy `explore`, with `go` (every go-to plan) at 0.3 and `drop` at 0.1 beside it."""
    tops = [{"token": "explore", "logprob": math.log(0.6)}, {"token": "go", "logprob": math.log(0.3)},
            {"token": "drop", "logprob": math.log(0.1)}]
    payload = completion(["Action: {explore}"])
    payload["choices"][0]["logprobs"] = {"content": [
        {"token": "Action: {", "logprob": 0.0, "top_logprobs": [{"token": "Action: {", "logprob": 0.0}]},
        {"token": "explore", "logprob": math.log(0.6), "top_logprobs": tops},
        {"token": "}", "logprob": 0.0, "top_logprobs": [{"token": "}", "logprob": 0.0}]}]}
    return Reply(payload=payload)


@pytest.fixture
def answers_dir(tmp_path, monkeypatch):
    """configs/answers/ of the test (shipped tables are never written by tests)."""
    folder = tmp_path / "answers"
    monkeypatch.setattr(answer_tables, "ANSWERS_DIR", folder)
    return folder


def comparable(rows):
    return [{k: v for k, v in r.items() if not k.startswith(("LLM/", "Teacher/Missing"))} for r in rows]


@pytest.mark.parametrize("mode,responder", [("sample", sampled), ("logprobs", with_logprobs)])
def test_a_run_from_the_exported_table_is_the_live_run(tmp_path, capsys, answers_dir, mode, responder):
    cache = tmp_path / "plans.json"
    with FakeChatServer(responder) as fake:
        # every env waits for each answer, so every sample has the live distribution, as the table gives it
        live = ["--llm_url", fake.url, "--llm_plans", mode, "--n_ask", "3", "--plan_cache", str(cache),
                "--llm_wait", "always"]
        assert main.main(tiny_train_args(tmp_path, "live", n_itr=3, extra=live)) == 0
        planner = build_planner(planner_config(*live), SDK, tmp_path)
        texts = [e["text"] for e in json.loads(cache.read_text())["entries"].values()]
        live_dists = {t: planner.plans(t) for t in texts}
        assert planner.stats()["queries"] == 0  # all from the cache
    assert len(texts) >= 3 and any(len(d) > 1 for d in live_dists.values())  # a teacher with choices to make

    assert export_cache.main([str(cache), "--task", "SimpleDoorKey", "--out", "fake-llm"]) == 0
    assert "fake-llm" in answer_tables.shipped_names()
    table = build_planner(planner_config("--answers", "fake-llm"), SDK, tmp_path)
    assert isinstance(table, RecordedPlanner)
    for t in texts:  # the same plans in the same order, the same probabilities
        assert [p for p, _ in table.plans(t)] == [p for p, _ in live_dists[t]]
        assert [q for _, q in table.plans(t)] == pytest.approx([q for _, q in live_dists[t]], abs=1e-12)
    prov = answer_tables.provenance(SDK, "fake-llm")
    assert prov["model"] == "fake-model" and prov["planner"] == mode and prov["texts"] == len(texts)
    assert prov["prompt_sha256"] == sha256(load_prompt(SDK)) and prov["settings"]["n_ask"] == 3

    # the run from the table: the same teacher on the same episodes, so the same run (and no text missing)
    capsys.readouterr()
    assert main.main(tiny_train_args(tmp_path, "table", n_itr=3, extra=["--answers", "fake-llm"])) == 0
    assert "missing_texts 0" in capsys.readouterr().out
    a = comparable(read_metrics(tmp_path / "ppo" / "SimpleDoorKey" / "live-0"))
    b = comparable(read_metrics(tmp_path / "ppo" / "SimpleDoorKey" / "table-0"))
    assert len(a) == len(b) == 3 and [r.keys() for r in a] == [r.keys() for r in b]
    for ra, rb in zip(a, b):
        for k in ra:
            assert float(ra[k]) == pytest.approx(float(rb[k]), rel=1e-6, abs=1e-9), k


def test_teacher_probs_are_the_same_on_an_episode(tmp_path, answers_dir):
    """The teacher's action distribution, observation by observation, from the live planner and from its table."""
    cache = tmp_path / "plans.json"
    with FakeChatServer(sampled) as fake:
        live = planner_config("--llm_url", fake.url, "--n_ask", "3", "--plan_cache", str(cache))
        e = env.make_env(SDK["env_id"])
        teachers = {}
        for who in ("live", "table"):
            if who == "table":
                export_cache.export(cache, "SimpleDoorKey", "t")
            planner = build_planner(live if who == "live" else planner_config("--answers", "t"), SDK, tmp_path)
            teacher = TeacherPolicy(planner, SDK["object_names"], soft=True)
            obs, _ = e.reset(seed=3)
            teacher.reset()
            out = []
            for _ in range(40):
                probs = teacher(obs)
                out.append(probs)
                obs, _, term, trunc, _ = e.step(int(np.argmax(probs)))
                if term or trunc:
                    break
            teachers[who] = np.array(out)
    assert teachers["live"].shape == teachers["table"].shape
    np.testing.assert_allclose(teachers["live"], teachers["table"], atol=1e-6)


def test_official_is_the_default_and_a_file_works_in_either_format(tmp_path, answers_dir):
    official = load_recorded_answers(SDK)
    assert build_planner(planner_config(), SDK, tmp_path).table == official
    assert build_planner(planner_config("--answers", "official"), SDK, tmp_path).table == official
    assert answer_tables.provenance(SDK)["source"].startswith("Recorded LLM answers of the official")
    # LavaDoorKey reads SimpleDoorKey's official table; an exported table has its own answers per task
    lava = task_config("LavaDoorKey")
    assert build_planner(planner_config(), lava, tmp_path).table == official
    path = answer_tables.write_task("mine", "LavaDoorKey", {"Agent sees <nothing>, holds <nothing>.":
                                                            {"plans": ["explore"], "probs": [1.0]}}, {"model": "x"})
    assert path == answers_dir / "mine.json"
    assert build_planner(planner_config("--answers", "mine"), lava, tmp_path).table == \
        {"Agent sees <nothing>, holds <nothing>.": [("explore", 1.0)]}
    with pytest.raises(UserError, match="no answers for task SimpleDoorKey .it has: LavaDoorKey"):
        build_planner(planner_config("--answers", "mine"), SDK, tmp_path)
    assert build_planner(planner_config("--answers", str(path)), lava, tmp_path).table  # the same file by path
    # each export says where its task's answers came from; a later one keeps the others' word and the table's
    answer_tables.write_task("mine", "SimpleDoorKey", {"Agent sees <key>, holds <nothing>.":
                                                       {"plans": ["explore"], "probs": [1.0]}}, {"model": "y"}, "run B")
    answer_tables.write_task("mine", "ColoredDoorKey", {"Agent sees <key>, holds <nothing>.":
                                                        {"plans": ["explore"], "probs": [1.0]}}, {"model": "z"}, "run C")
    assert [answer_tables.provenance(task_config(t), "mine").get("source")
            for t in ("LavaDoorKey", "SimpleDoorKey", "ColoredDoorKey")] == [None, "run B", "run C"]
    assert json.loads(path.read_text())["source"] == "run B"
    with pytest.raises(UserError, match="official table is not written"):
        answer_tables.write_task("official", "SimpleDoorKey", {}, {})


def test_default_reads_each_tasks_own_table_so_a_new_task_trains_without_answers_flags(tmp_path):
    """--answers default (the default) is the task's "default_answers" in configs/tasks.json: the official table for
    the paper's tasks, the shipped Gemma table for KeyInBox; a task naming a table without its answers is one line."""
    box = task_config("KeyInBox")
    assert box["default_answers"] == "gemma3-270m" and "default_answers" not in SDK
    gemma = answer_tables.load_answers(box, "gemma3-270m")
    assert build_planner(planner_config(), box, tmp_path).table == gemma
    assert build_planner(planner_config("--answers", "default"), box, tmp_path).table == gemma
    assert answer_tables.provenance(box)["model"] == "gemma-3-270m"
    with pytest.raises(UserError, match="no recorded answers for task KeyInBox"):
        build_planner(planner_config("--answers", "official"), box, tmp_path)
    with pytest.raises(UserError, match="names each task's own table"):
        answer_tables.write_task("default", "KeyInBox", {}, {})
    mine = dict(box, default_answers="mine")
    with pytest.raises(UserError, match="no such answer table; shipped: official"):
        build_planner(planner_config(), mine, tmp_path)
    args = tiny_train_args(tmp_path, savedir="box")
    args[args.index("SimpleDoorKey")] = "KeyInBox"
    assert main.main(args) == 0  # no --answers: the Gemma table teaches it
    rows = read_metrics(tmp_path / "ppo" / "KeyInBox" / "box-0")
    assert len(rows) == 2 and float(rows[-1]["Train/Kickstarting Coef"]) > 0


def test_a_text_missing_from_a_table_explores_and_is_counted(tmp_path, answers_dir):
    answer_tables.write_task("small", "SimpleDoorKey", {"Agent sees <key>, holds <nothing>.":
                                                        {"plans": ["go to <key>, pick up <key>"], "probs": [1]}}, {})
    planner = build_planner(planner_config("--answers", "small"), SDK, tmp_path)
    assert planner.plans("Agent sees <door>, holds <nothing>.") == [("explore", 1.0)]
    assert planner.plans("Agent sees <key>, holds <nothing>.") == [("go to <key>, pick up <key>", 1.0)]
    assert planner.stats() == {"missing_texts": 1, "missing_distinct": 1}


@pytest.mark.parametrize("content,message", [
    ("{not json", "is not valid JSON"),
    (json.dumps({"format": "llm4teach-answers", "version": 7, "tasks": {}}), "has version 7, expected 1"),
    (json.dumps({"format": "llm4teach-answers", "version": 1, "tasks": []}), "'tasks' must be an object"),
    (json.dumps({"format": "llm4teach-answers", "version": 1, "tasks": {}}), "no answers for task SimpleDoorKey"),
    (json.dumps({"format": "llm4teach-answers", "version": 1, "tasks": {"SimpleDoorKey": {"answers": {
        "t": {"plans": ["explore"], "probs": [-1]}}}}}), "equal-length"),
    (json.dumps({"format": "llm4teach-answers", "version": 1, "tasks": {"SimpleDoorKey": {}}}), "expected an object"),
])
def test_bad_tables_are_one_line_before_training(tmp_path, capsys, answers_dir, content, message):
    answers_dir.mkdir()
    (answers_dir / "bad.json").write_text(content)
    logdir = tmp_path / "log"
    assert main.main(tiny_train_args(logdir, n_itr=1, extra=["--answers", "bad"])) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "bad.json" in err and len(err.splitlines()) == 1, err
    assert not logdir.exists()


def test_unknown_names_are_one_line(tmp_path, capsys, answers_dir):
    assert main.main(tiny_train_args(tmp_path / "log", n_itr=1, extra=["--answers", "gemma9"])) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --answers gemma9: no such answer table; shipped: official (or give a .json file)"
    assert main.main(["eval", "--eval_teacher", "--answers", "../x", "--logdir", str(tmp_path / "log")]) == 2
    assert capsys.readouterr().err.strip() == "error: --answers file not found: ../x"


def test_a_student_of_a_task_without_official_answers_evaluates_with_its_table(tmp_path, capsys):
    """KeyInBox has no official ChatGLM table: its student trains and evaluates from the shipped Gemma answers."""
    import main
    from tests.helpers import tiny_train_args
    args = tiny_train_args(tmp_path, "kb", n_itr=1, extra=["--answers", "gemma3-270m"])
    args[args.index("--task") + 1] = "KeyInBox"
    assert main.main(args) == 0
    run = str(tmp_path / "ppo" / "KeyInBox" / "kb-0")
    assert main.main(["eval", "--task", "KeyInBox", "--answers", "gemma3-270m", "--loaddir", run, "--num_eval", "2",
                      "--logdir", str(tmp_path)]) == 0
    assert "KeyInBox student" in capsys.readouterr().out


def test_shipped_tables_were_asked_with_the_prompts_that_ship():
    """An exported table answers the prompt it was asked with: a task whose prompt changed since needs its answers
    asked again (bench/llm.py --export), else its teacher would claim a prompt it never saw."""
    checked = 0
    for name in answer_tables.shipped_names():
        path = answer_tables.table_path(name)
        data = json.loads(path.read_text())
        if data.get("format") != answer_tables.FORMAT:
            continue  # the official table: ChatGLM's answers to the official prompts, no hash recorded
        for task, entry in data["tasks"].items():
            want = sha256(load_prompt(task_config(task)))
            assert entry["provenance"].get("prompt_sha256") == want, f"{name}: {task} was asked another prompt"
            checked += 1
    assert checked >= 9
    # a task without its own entry reads its "answers" name's: a variant asked the same prompt
    look = task_config("MiniWorld-PickupObjects-LookDown-v0")
    assert answer_tables.load_answers(look) == answer_tables.load_answers(task_config("MiniWorld-PickupObjects-v0"))
    assert answer_tables.provenance(look) == answer_tables.provenance(task_config("MiniWorld-PickupObjects-v0"))
    for task, cfg in all_tasks().items():
        data = json.loads(answer_tables.table_path(answer_tables.task_table(cfg)).read_text())
        if data.get("format") == answer_tables.FORMAT and task not in data["tasks"]:
            asked = data["tasks"][cfg["answers"]]["provenance"]["prompt_sha256"]
            assert asked == sha256(load_prompt(cfg)), f"{task} reads answers asked with another prompt"
