"""The live LLM teacher table (algos/experiments/teacher_table.py, bench/llm.py) against a fake LLM: its columns, a rerun that
asks nothing, and the exported answers teaching exactly as the live model did."""
import json
import math

import pytest

from algos.experiments.teacher_table import TeacherSetting, agreement, markdown, measure, recorded_row
from planner import answer_tables
from teacher.mediator import parse_plan
from tests.llm_fakes import FakeChatServer, asked_text
from tests.test_answer_tables import with_logprobs
from utils.errors import UserError
from planner.task_spec import load_recorded_answers, task_config

SDK = task_config("SimpleDoorKey")


def test_agreement_is_one_minus_total_variation_of_first_steps():
    recorded = [("go to <key>, pick up <key>", 0.8), ("pick up <key>", 0.2)]
    assert agreement(recorded, recorded) == (pytest.approx(1.0), True)
    # the first step is what counts: "go to <key>, explore" starts as the recorded plan does
    assert agreement([("go to <key>, explore", 0.5), ("explore", 0.5)], recorded) == (pytest.approx(0.5), True)
    assert agreement([("explore", 0.7), ("pick up <key>", 0.3)], recorded) == (pytest.approx(0.2), False)


def texts_asked(fake):
    """The observation texts sent to the fake (not the one-line check before the episodes)."""
    return [asked_text(b) for b in fake.bodies if asked_text(b).startswith("Agent")]


def test_a_row_a_cached_rerun_and_the_exported_table(tmp_path, monkeypatch):
    monkeypatch.setattr(answer_tables, "ANSWERS_DIR", tmp_path / "answers")
    cache, logdir = tmp_path / "plans.json", tmp_path / "log"
    setting = TeacherSetting("SimpleDoorKey", "fake", "logprobs")
    with FakeChatServer(with_logprobs) as fake:
        row = measure(setting, fake.url, cache, logdir, episodes=4, export="fake-logprobs")
        asked = texts_asked(fake)
        again = measure(setting, fake.url, cache, logdir, episodes=4)
        assert texts_asked(fake) == asked  # a rerun: all from the plan cache
    entries = json.loads(cache.read_text())["entries"].values()
    assert row["texts"] == len(entries) >= len(load_recorded_answers(SDK))  # recorded texts + those of the episodes
    # a text with a single candidate plan (explore) needs no request
    assert sorted(asked) == sorted(e["text"] for e in entries if len(e["plans"]) > 1) and len(asked) < len(entries)
    assert row["parse_rate"] == 1.0 and row["seconds_per_text"] >= 0 and row["episodes"] == 4
    assert row["server_model"] == "fake-model" and row["exported"].endswith("fake-logprobs.json")
    # the fake always prefers explore (0.6): one recorded text in six has explore as its top step
    assert row["top_agreement"] == pytest.approx(sum(
        1 for d in load_recorded_answers(SDK).values() if parse_plan(d[0][0])[0].kind == "explore") / 6)
    assert 0 < row["agreement"] < 1 and 0 <= row["teacher_success"] <= 1
    assert {k: v for k, v in again.items() if k != "exported"} == {k: v for k, v in row.items() if k != "exported"}

    # the exported table teaches as the live model did: the same teacher on the same episodes
    table = recorded_row("SimpleDoorKey", "fake-logprobs", logdir, episodes=4)
    assert table["missing_texts"] == 0
    for key in ("agreement", "top_agreement", "teacher_success", "teacher_return"):
        assert table[key] == pytest.approx(row[key], abs=1e-9), key
    official = recorded_row("SimpleDoorKey", "official", logdir, episodes=4)
    assert official["agreement"] == official["top_agreement"] == 1.0 and official["texts"] == 6

    lines = markdown([official, row]).splitlines()
    assert len(lines) == 4 and lines[0].count("|") == lines[3].count("|") == 11 and "(4 ep.)" in lines[0]
    assert lines[2].startswith("| SimpleDoorKey | recorded: official | table | - | - | 1.00 | 1.00 | - | 6 |")


def test_bad_settings_are_one_line(tmp_path):
    with pytest.raises(UserError, match="unknown planner mode 'nope'"):
        measure(TeacherSetting("SimpleDoorKey", "m", "nope"), "http://127.0.0.1:9/v1", tmp_path / "c.json", tmp_path)
    with pytest.raises(UserError, match="candidate set 'weird'"):
        measure(TeacherSetting("SimpleDoorKey", "m", "logprobs", "weird"), "http://127.0.0.1:9/v1",
                tmp_path / "c.json", tmp_path)
    with pytest.raises(UserError, match="unknown task"):
        recorded_row("NoSuchTask", "official", tmp_path)


def test_the_bench_script_writes_its_table(tmp_path, monkeypatch, capsys):
    import importlib.util
    from tests.helpers import ROOT
    spec = importlib.util.spec_from_file_location("bench_llm", f"{ROOT}/bench/llm.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(answer_tables, "ANSWERS_DIR", tmp_path / "answers")
    with FakeChatServer(with_logprobs) as fake:
        rc = bench.main(["--tasks", "SimpleDoorKey", "--llm_url", fake.url, "--episodes", "2", "--logdir",
                         str(tmp_path / "log"), "--export", "{model}-{mode}", "--json", str(tmp_path / "rows.json")])
    assert rc == 0
    md = (tmp_path / "log" / "teacher_table.md").read_text()
    assert "| SimpleDoorKey | server | logprobs |" in md and "| SimpleDoorKey | recorded: official |" in md
    assert "Command: `python bench/llm.py" in md and "Machine:" in md
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [r["model"] for r in rows] == ["recorded: official", "server"]
    assert answer_tables.provenance(SDK, "server-logprobs")["planner"] == "logprobs"
    assert not math.isnan(rows[1]["agreement"])


def test_a_task_without_official_answers_has_no_agreement_column():
    from algos.experiments.teacher_table import agreement_scores, official_table
    from planner.task_spec import task_config
    assert official_table(task_config("KeyInBox")) is None
    assert official_table(task_config("SimpleDoorKey"))  # the official ChatGLM table
    assert agreement_scores(None, None) == {"agreement": None, "top_agreement": None}
