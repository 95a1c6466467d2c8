"""The persistent plan cache: atomic, process-safe, zero queries on a rerun, exportable as an answer table."""
import json
import multiprocessing
import os
import time

import pytest

from planner import export_cache
from planner.base import RecordedPlanner
from planner.factory import build_planner
from tests.helpers import planner_config, run_processes
from planner.live.llm_planner import LLMPlanner
from planner.llm.openai_client import ChatClient
from planner.live.plan_cache import PlanCache, cache_key, sha256
from tests.llm_fakes import FakeChatServer, Reply, asked_text, honour_n
from utils.errors import UserError
from planner.task_spec import load_prompt, load_recorded_answers, parse_answer_table, task_config

SDK = task_config("SimpleDoorKey")
TEXTS = list(load_recorded_answers(SDK))  # the 6 observation texts of SimpleDoorKey


def answer_for(body):
    """Deterministic fake LLM: the plan depends on the observation text."""
    text = asked_text(body)
    plan = "go to <key>, pick up <key>" if "sees <key>" in text else ("go to <door>, open <door>" if "<door>" in text
                                                                      else "explore")
    return f"3. Action: {{{plan}}}"


def responder(i, body):
    return Reply.answers([answer_for(body)] * int(body.get("n") or 1), delay=0.02)


make_args = planner_config


def test_key_depends_on_everything():
    base = ("m", "sys", {"n_ask": 10, "temperature": 1.0}, "text")
    keys = {cache_key(*base), cache_key("m2", *base[1:]), cache_key("m", "sys2", *base[2:]),
            cache_key("m", "sys", {"n_ask": 10, "temperature": 0.5}, "text"), cache_key(*base[:3], "text2")}
    assert len(keys) == 5 and cache_key(*base) == cache_key(*base)


def test_put_get_atomic_file(tmp_path):
    path = tmp_path / "sub" / "cache.json"
    cache = PlanCache(path)
    assert cache.get("k") is None and not path.exists()
    cache.put("k", {"plans": ["explore"]})
    assert PlanCache(path).get("k") == {"plans": ["explore"]}
    data = json.loads(path.read_text())
    assert data["format"] == "llm4teach-plan-cache" and data["version"] == 1
    assert sorted(os.listdir(path.parent)) == ["cache.json", "cache.json.lock"]  # no temporary files left


@pytest.mark.parametrize("content", ["{not json", '{"some": "other file"}', "[]"])
def test_corrupt_or_foreign_file_is_user_error(tmp_path, content):
    path = tmp_path / "cache.json"
    path.write_text(content)
    with pytest.raises(UserError, match="cache"):
        PlanCache(path).get("k")
    assert path.read_text() == content  # never overwritten


def test_compute_failure_writes_nothing(tmp_path):
    cache = PlanCache(tmp_path / "c.json")

    def boom():
        raise UserError("server down")
    with pytest.raises(UserError):
        cache.get_or_compute("k", boom)
    assert cache.entries() == {}
    entry, hit = cache.get_or_compute("k", lambda: {"plans": ["explore"]})
    assert not hit and entry["plans"] == ["explore"] and cache.get_or_compute("k", lambda: 1 / 0)[1]


def _writer(path, worker, count):
    cache = PlanCache(path)
    for i in range(count):
        cache.put(f"w{worker}-{i}", {"plans": ["explore"] * (i % 5 + 1), "text": "x" * 200})


def test_concurrent_writers_never_corrupt(tmp_path):
    path = str(tmp_path / "cache.json")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 30)) for w in range(3)]
    for p in procs:
        p.start()
    reads = 0
    while any(p.is_alive() for p in procs):
        if os.path.exists(path):
            PlanCache(path).entries()  # raises UserError on a torn file
            reads += 1
        time.sleep(0.002)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    entries = PlanCache(path).entries()
    assert len(entries) == 90 and reads > 0


def _worker_run(url, path, order, queue):
    args = make_args("--llm_url", url, "--n_ask", "4", "--plan_cache", path, "--llm_timeout", "10")
    planner = build_planner(args, SDK, os.path.dirname(path))
    dists = {t: planner.plans(t) for t in order}
    queue.put((dists, planner.stats()))


def test_workers_share_cache_and_ask_each_text_once(tmp_path):
    path = str(tmp_path / "plan_cache.json")
    with FakeChatServer(responder) as fake:
        orders = [TEXTS, TEXTS[::-1], TEXTS[2:] + TEXTS[:2], TEXTS]
        results = run_processes(_worker_run, [(fake.url, path, o) for o in orders])
    assert len(fake.requests) == len(TEXTS)  # each text asked once across the four workers
    assert sum(s["queries"] for _, s in results) == len(TEXTS)
    assert sum(s["cache_hits"] for _, s in results) == 3 * len(TEXTS)
    first = results[0][0]
    assert all(d == first for d, _ in results)


def test_rerun_makes_zero_queries_and_export_round_trips(tmp_path):
    cache_path = tmp_path / "log" / "ppo" / "SimpleDoorKey" / "plan_cache.json"
    with FakeChatServer(responder) as fake:
        args = make_args("--llm_url", fake.url, "--n_ask", "3", "--llm_model", "fake-model")
        first = build_planner(args, SDK, cache_path.parent)
        dists = {t: first.plans(t) for t in TEXTS}
        n_requests = len(fake.requests)
        assert first.stats()["queries"] == len(TEXTS) and n_requests == len(TEXTS)

        rerun = build_planner(args, SDK, cache_path.parent)
        assert {t: rerun.plans(t) for t in TEXTS} == dists
        assert len(fake.requests) == n_requests
        s = rerun.stats()
        assert s["queries"] == 0 and s["requests"] == 0 and s["cache_hits"] == len(TEXTS)

        # other sampling settings are a different cache key: asked again
        other = build_planner(make_args("--llm_url", fake.url, "--n_ask", "3", "--llm_model", "fake-model",
                                        "--llm_temperature", "0.5"), SDK, cache_path.parent)
        other.plans(TEXTS[0])
        assert other.stats()["queries"] == 1

    out = tmp_path / "table.json"
    base = [str(cache_path), "--task", "SimpleDoorKey", "--out", str(out)]
    assert export_cache.main(base) == 2 and not out.exists()  # two temperatures: which one must be said
    assert export_cache.main(base + ["--where", "temperature"]) == 2
    assert export_cache.main(base + ["--where", "temperature=1.0"]) == 0
    data = json.loads(out.read_text())
    table = parse_answer_table(data["tasks"]["SimpleDoorKey"]["answers"], "export")
    assert set(table) == set(TEXTS)
    # the table trains without a server: --answers FILE gives the same distributions
    recorded = build_planner(make_args("--answers", str(out)), SDK, tmp_path)
    assert isinstance(recorded, RecordedPlanner)
    for t in TEXTS:
        assert [p for p, _ in recorded.plans(t)] == [p for p, _ in dists[t]]
        assert [q for _, q in recorded.plans(t)] == pytest.approx([q for _, q in dists[t]], abs=1e-12)


def test_export_chooses_one_setting_and_keeps_other_tasks(tmp_path):
    cache_path = tmp_path / "cache.json"
    with FakeChatServer(honour_n(lambda k: "Action: {explore}" if k % 4 else "Action: {go to <key>}")) as fake:
        for model in ("m1", "m2"):
            c = ChatClient(fake.url, model, timeout=2)
            LLMPlanner(c, load_prompt(SDK), n_ask=4, cache=PlanCache(cache_path)).plans(TEXTS[0])
    out = tmp_path / "table.json"
    # two models in one cache: which one is exported must be said
    with pytest.raises(UserError, match="holds answers of 2 settings .*--model"):
        export_cache.export(cache_path, "SimpleDoorKey", out)
    path, table, prov = export_cache.export(cache_path, "SimpleDoorKey", out, model="m2")
    data = json.loads(out.read_text())
    assert data["format"] == "llm4teach-answers" and list(data["tasks"]) == ["SimpleDoorKey"]
    assert table[TEXTS[0]] == {"plans": ["explore", "go to <key>"], "probs": [0.75, 0.25]}
    assert prov["model"] == "m2" and prov["planner"] == "sample" and prov["settings"]["n_ask"] == 4
    assert prov["prompt_sha256"] == sha256(load_prompt(SDK)) and prov["texts"] == 1
    # another task's answers are added beside; a foreign file is never overwritten
    data["tasks"]["TwoDoor"] = {"provenance": {}, "answers": {"t": {"plans": ["explore"], "probs": [1]}}}
    out.write_text(json.dumps(data))
    export_cache.export(cache_path, "SimpleDoorKey", out, model="m1")
    data = json.loads(out.read_text())
    assert data["tasks"]["TwoDoor"]["answers"] == {"t": {"plans": ["explore"], "probs": [1]}}
    assert data["tasks"]["SimpleDoorKey"]["provenance"]["model"] == "m1"
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"tasks": {}}')
    with pytest.raises(UserError, match="not an exported answer table"):
        export_cache.export(cache_path, "SimpleDoorKey", foreign, model="m1")
    assert foreign.read_text() == '{"tasks": {}}'
    with pytest.raises(UserError, match="no answers"):
        export_cache.export(cache_path, "ColoredDoorKey", tmp_path / "x.json")
    with pytest.raises(UserError, match="no answers"):
        export_cache.export(cache_path, "SimpleDoorKey", tmp_path / "x.json", model="nope")
    with pytest.raises(UserError, match="no answers"):
        export_cache.export(cache_path, "SimpleDoorKey", tmp_path / "x.json", mode="logprobs")
    assert export_cache.main([str(tmp_path / "missing.json"), "--task", "SimpleDoorKey", "--out", str(out)]) == 2


def test_all_invalid_text_is_cached_and_exported_as_explore(tmp_path):
    cache_path = tmp_path / "cache.json"
    with FakeChatServer(honour_n(lambda k: "gibberish")) as fake:
        p = LLMPlanner(ChatClient(fake.url, "m", timeout=2), load_prompt(SDK), n_ask=2, max_reasks=1,
                       cache=PlanCache(cache_path))
        assert p.plans(TEXTS[0]) == [("explore", 1.0)]
        n = len(fake.requests)
        p2 = LLMPlanner(ChatClient(fake.url, "m", timeout=2), load_prompt(SDK), n_ask=2, max_reasks=1,
                        cache=PlanCache(cache_path))
        assert p2.plans(TEXTS[0]) == [("explore", 1.0)] and len(fake.requests) == n
    _, table, prov = export_cache.export(cache_path, "SimpleDoorKey", tmp_path / "t.json")
    assert table[TEXTS[0]] == {"plans": ["explore"], "probs": [1.0]} and prov["texts_without_valid_answer"] == 1
