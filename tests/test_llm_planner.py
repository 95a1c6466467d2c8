"""LLMPlanner, the grammar and planner.factory against fake servers on 127.0.0.1."""
import dataclasses
import itertools
import json
import math
import time

import pytest

from planner.answers import extract_plan
from planner.base import RecordedPlanner
from planner.factory import build_planner, preflight
from planner.live.grammar import candidate_plans, choice_grammar, observation_grammar, parse_text, steps
from planner.live.logprob_planner import LogprobPlanner, branch_probabilities
from planner.live.llm_planner import LLMPlanner
from planner.llm.openai_client import ChatClient
from planner.live.stats import merge_stats, summary_line
from tests.helpers import planner_config
from tests.llm_fakes import FakeChatServer, Reply, completion, honour_n, ignore_n, refused_url
from utils.errors import UserError
from planner.task_spec import load_recorded_answers, task_config

TEXT = "Agent sees <key>, holds <nothing>."


make_args = planner_config


def check_llm_args(config):
    config.validate()


def planner_for(url, **kw):
    c = ChatClient(url, "m", timeout=2, retries=1, backoff=0.01)
    return LLMPlanner(c, "system prompt", **kw)


def test_distribution_from_answers_and_memory_cache():
    answers = ["1. ... 3. Action: {go to <key>, pick up <key>}"] * 7 + ["Action: {pick up <key>}"] * 3
    with FakeChatServer(honour_n(lambda k: answers[k % 10])) as fake:
        p = planner_for(fake.url, n_ask=10)
        dist = p.plans(TEXT)
        assert p.plans(TEXT) is dist and len(fake.requests) == 1
    assert dist == [("go to <key>, pick up <key>", 0.7), ("pick up <key>", 0.3)]
    assert math.isclose(sum(q for _, q in dist), 1.0)
    body = fake.bodies[0]
    assert body["messages"] == [{"role": "system", "content": "system prompt"}, {"role": "user", "content": TEXT}]
    s = p.stats()
    assert s["queries"] == 1 and s["lookups"] == 2 and s["answers"] == 10 and s["invalid_answers"] == 0


def test_unparseable_answers_are_reasked():
    # first request: 6 valid + 4 without Action; the re-ask asks exactly for the 4 missing ones
    first = ["Action: {explore}"] * 6 + ["I think the agent should explore."] * 4
    replies = iter([Reply.answers(first), Reply.answers(["Action: {go to <door>}"] * 4)])
    with FakeChatServer(lambda i, b: next(replies)) as fake:
        p = planner_for(fake.url, n_ask=10, max_reasks=2)
        dist = p.plans(TEXT)
    assert fake.bodies[1]["n"] == 4
    assert dist == [("explore", 0.6), ("go to <door>", 0.4)]
    s = p.stats()
    assert s["reasked_answers"] == 4 and s["invalid_answers"] == 0 and s["fallbacks"] == 0 and s["answers"] == 14


def test_all_invalid_falls_back_to_explore_and_counts():
    with FakeChatServer(ignore_n(lambda k: "no idea")) as fake:
        p = planner_for(fake.url, n_ask=3, max_reasks=2)
        start = time.monotonic()
        assert p.plans(TEXT) == [("explore", 1.0)]
        assert time.monotonic() - start < 30  # no backoff waits between the rounds
    assert len(fake.requests) == 3 * 3  # 3 answers asked, then re-asked twice, one request each
    s = p.stats()
    assert s["invalid_answers"] == 3 and s["fallbacks"] == 1 and s["reasked_answers"] == 6
    assert p.plans(TEXT) == [("explore", 1.0)] and len(fake.requests) == 9  # not asked again


def test_partly_invalid_after_reasks_counts_the_rest():
    replies = iter([Reply.answers(["Action: {explore}", "x", "y"]), Reply.answers(["z", "w"])])
    with FakeChatServer(lambda i, b: next(replies)) as fake:
        p = planner_for(fake.url, n_ask=3, max_reasks=1)
        assert p.plans(TEXT) == [("explore", 1.0)]
    assert p.stats()["invalid_answers"] == 2 and p.stats()["fallbacks"] == 0


def test_seeded_reasks_use_new_seeds():
    replies = iter([Reply.answers(["bad"]), Reply.answers(["Action: {explore}"])])
    with FakeChatServer(lambda i, b: next(replies)) as fake:
        planner_for(fake.url, n_ask=1, seed=7).plans(TEXT)
    assert [b["seed"] for b in fake.bodies] == [7, 1007]


def test_stats_summary_and_merge():
    with FakeChatServer(honour_n(lambda k: "Action: {explore}")) as fake:
        p = planner_for(fake.url, n_ask=2)
        p.plans(TEXT)
        s = p.stats()
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in s.values())
    for key in ("queries", "cache_hits", "invalid_answers", "latency_mean_s", "request_max_s", "requests"):
        assert key in s
    line = summary_line(s)
    assert line.startswith("LLM: 1 queries") and "\n" not in line
    m = merge_stats([s, s])
    assert m["queries"] == 2 and m["request_max_s"] == s["request_max_s"]
    assert math.isclose(m["latency_mean_s"], s["latency_mean_s"])
    assert summary_line({"missing_texts": 0, "missing_distinct": 0}).startswith("Planner:")


# ---- grammar and candidates ----
ALL_TEXTS = [t for task in ("SimpleDoorKey", "ColoredDoorKey", "TwoDoor") for t in load_recorded_answers(task_config(task))]


@pytest.mark.parametrize("text", ALL_TEXTS)
def test_observation_grammar_names_only_the_objects_of_its_text(text):
    seen, held = parse_text(text)
    named = set(seen) | ({held} if held else set())
    for step in steps(text):
        assert step == "explore" or any(step.endswith(" " + o) for o in named), step
        if step.startswith("open "):
            assert held is not None and "key" in held  # a door opens only with a key in hand
    g = observation_grammar(text)
    assert g.startswith('root ::= "Action: {" plan "}"') and all(f'"{s}"' in g for s in steps(text))
    for k in (1, 2):  # every sentence of the grammar (up to 2 steps) parses into that plan
        for combo in itertools.product(steps(text), repeat=k):
            sentence = "Action: {" + ", ".join(combo) + "}"
            assert extract_plan(sentence) == sentence[len("Action: {"):-1]


def test_parse_text_and_candidates():
    assert parse_text("Agent sees <key>, <door>, holds <nothing>.") == (["<key>", "<door>"], None)
    assert parse_text("Agent sees <nothing>, holds <color2 key>.") == ([], "<color2 key>")
    assert candidate_plans("Agent sees <door>, holds <nothing>.") == ["explore"]
    assert candidate_plans("Agent sees <color1 key>, <color2 door>, holds <color2 key>.") == [
        "explore", "drop <color2 key>, go to <color1 key>, pick up <color1 key>",
        "go to <color2 door>, open <color2 door>", "drop <color2 key>"]
    assert "go to <color1 door>, open <color1 door>" not in candidate_plans(
        "Agent sees <color1 door>, holds <color2 key>.")  # the wrong colour opens nothing
    assert choice_grammar(["explore", "drop <key>"]) == 'root ::= "Action: {explore}" | "Action: {drop <key>}"\n'
    with pytest.raises(ValueError):
        observation_grammar("Agent sees <nothing>, holds <nothing>.", max_steps=0)


def lp(pairs):
    return {t: math.log(p) for t, p in pairs}


def test_branch_probabilities_from_one_answer():
    plans = ["explore", "go to <key>, pick up <key>", "go to <door>, open <door>"]
    tokens = [("Action", lp([("Action", 0.9), ("The", 0.1)])), (": {", lp([(": {", 1.0)])),
              ("go", lp([("go", 0.6), ("explore", 0.3), ("ex", 0.1)])), (" to", lp([(" to", 1.0)])),
              (" <", lp([(" <", 1.0)])), ("key", lp([("key", 0.75), ("door", 0.25)])), (">,", lp([(">,", 1.0)]))]
    probs = branch_probabilities(plans, tokens)
    assert probs == pytest.approx({"explore": 0.4, "go to <key>, pick up <key>": 0.45,
                                   "go to <door>, open <door>": 0.15})


def logprob_reply(i, body):
    """A server that answers `go to <key>, pick up <key>` and says explore had probability 1/4."""
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and "grammar" in body
    content = [{"token": "Action: {", "logprob": 0.0, "top_logprobs": [{"token": "Action: {", "logprob": 0.0}]},
               {"token": "go", "logprob": math.log(0.75), "top_logprobs": [
                   {"token": "go", "logprob": math.log(0.75)}, {"token": "explore", "logprob": math.log(0.25)}]}]
    payload = completion(["Action: {go to <key>, pick up <key>}"])
    payload["choices"][0]["logprobs"] = {"content": content}
    return Reply(payload=payload)


def test_logprob_planner_gets_a_distribution_in_one_request(tmp_path):
    with FakeChatServer(logprob_reply) as fake:
        p = build_planner(make_args("--llm_url", fake.url, "--llm_plans", "logprobs", "--plan_cache",
                                    tmp_path / "c.json"), task_config("SimpleDoorKey"), tmp_path)
        assert isinstance(p, LogprobPlanner)
        dist = dict(p.plans(TEXT))
        assert dist == pytest.approx({"go to <key>, pick up <key>": 0.75, "explore": 0.25})
        assert len(fake.requests) == 1  # one question (fake.requests holds the chat requests only)
        again = build_planner(make_args("--llm_url", fake.url, "--llm_plans", "logprobs", "--plan_cache",
                                        tmp_path / "c.json"), task_config("SimpleDoorKey"), tmp_path)
        assert dict(again.plans(TEXT)) == dist and len(fake.requests) == 1  # from the cache: nothing asked


def test_logprob_cache_is_asked_again_when_the_rules_offer_other_plans(tmp_path, monkeypatch):
    import planner.live.logprob_planner as lp
    args = make_args("--llm_url", "URL", "--llm_plans", "logprobs", "--plan_cache", tmp_path / "c.json")
    with FakeChatServer(logprob_reply) as fake:
        args.llm_url = fake.url
        build_planner(args, task_config("SimpleDoorKey"), tmp_path).plans(TEXT)
        assert len(fake.requests) == 1
        # a rule change (as when the mission's box stopped being offered for opening) offers other plans
        monkeypatch.setattr(lp, "candidate_plans", lambda text, candidates: ["explore", "go to <key>, pick up <key>",
                                                                            "go to <key>, open <key>"])
        changed = build_planner(args, task_config("SimpleDoorKey"), tmp_path)
        assert set(dict(changed.plans(TEXT))) <= {"explore", "go to <key>, pick up <key>", "go to <key>, open <key>"}
        assert len(fake.requests) == 2  # not the stale cached answer
        monkeypatch.undo()
        build_planner(args, task_config("SimpleDoorKey"), tmp_path).plans(TEXT)
        assert len(fake.requests) == 2  # the first answer is still cached under its own plans


# ---- factory ----
def test_recorded_planner_without_url(tmp_path):
    cfg = task_config("SimpleDoorKey")
    p = build_planner(make_args(), cfg, tmp_path)
    assert isinstance(p, RecordedPlanner) and p.table == load_recorded_answers(cfg)


def test_offline_planner_forces_table(tmp_path):
    args = make_args("--llm_url", refused_url(), "--offline_planner")
    check_llm_args(args)
    preflight(args)  # no request
    assert isinstance(build_planner(args, task_config("SimpleDoorKey"), tmp_path), RecordedPlanner)


def test_build_llm_planner_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    with FakeChatServer(honour_n(lambda k: "Action: {go to <key>, pick up <key>}"), models=["vicuna-7b"]) as fake:
        args = make_args("--llm_url", fake.url, "--n_ask", "3", "--llm_grammar", "--llm_seed", "1")
        check_llm_args(args)
        preflight(args)
        p = build_planner(args, task_config("SimpleDoorKey"), tmp_path / "log" / "SimpleDoorKey")
        assert p.plans(TEXT) == [("go to <key>, pick up <key>", 1.0)]
    body = fake.bodies[-1]
    assert body["model"] == "vicuna-7b" and body["n"] == 3 and body["seed"] == 1
    assert '"go to <key>"' in body["grammar"] and body["messages"][0]["content"].startswith("In a locked 2D grid room")
    assert fake.requests[-1][2]["Authorization"] == "Bearer sk-very-secret"
    assert (tmp_path / "log" / "SimpleDoorKey" / "plan_cache.json").is_file()
    for blob in (json.dumps(dataclasses.asdict(args)), repr(p.client), json.dumps(p.stats()),
                 (tmp_path / "log" / "SimpleDoorKey" / "plan_cache.json").read_text()):
        assert "sk-very-secret" not in blob


def test_model_flag_and_several_models(tmp_path):
    with FakeChatServer(honour_n(lambda k: "Action: {explore}"), models=["a", "b"]) as fake:
        with pytest.raises(UserError, match="--llm_model"):
            build_planner(make_args("--llm_url", fake.url), task_config("SimpleDoorKey"), tmp_path)
        p = build_planner(make_args("--llm_url", fake.url, "--llm_model", "b", "--plan_cache", "none", "--n_ask", "1"),
                          task_config("SimpleDoorKey"), tmp_path)
        assert p.cache is None
        p.plans(TEXT)
    assert fake.bodies[-1]["model"] == "b"


def test_preflight_refused_names_url():
    url = refused_url()
    args = make_args("--llm_url", url, "--llm_timeout", "1")
    start = time.monotonic()
    with pytest.raises(UserError) as err:
        preflight(args)
    assert url in str(err.value) and "\n" not in str(err.value) and time.monotonic() - start < 30


def test_preflight_hanging_server_times_out():
    with FakeChatServer(lambda i, b: Reply.hang(300), models=None) as fake:
        start = time.monotonic()
        with pytest.raises(UserError, match="timed out"):
            preflight(make_args("--llm_url", fake.url, "--llm_timeout", "0.2"))
        assert time.monotonic() - start < 60  # not the 300 s the server would take


def test_preflight_unknown_model():
    with FakeChatServer(lambda i, b: Reply.error(404, "model 'x' not found"), models=None) as fake:
        with pytest.raises(UserError, match="404"):
            preflight(make_args("--llm_url", fake.url, "--llm_model", "x"))


@pytest.mark.parametrize("argv,match", [
    (["--n_ask", "0"], "--n_ask"),
    (["--llm_temperature", "-1"], "--llm_temperature"),
    (["--llm_timeout", "0"], "--llm_timeout"),
    (["--llm_timeout", "inf"], "--llm_timeout"),
    (["--llm_url", "ftp://x"], "LLM URL"),
    (["--llm_url", "http://127.0.0.1:9/v1", "--llm_api_key_env", "NO_SUCH_VAR_LLM4TEACH"], "NO_SUCH_VAR_LLM4TEACH"),
    (["--llm_api_key_env", "bad name"], "--llm_api_key_env"),
    (["--answers", "/nonexistent/table.json"], "--answers file not found"),
    (["--answers", "no-such-table"], "no such answer table; shipped: official"),
    (["--answers", "bad name!"], "expected a table name"),
])
def test_check_args(argv, match):
    with pytest.raises(UserError, match=match):
        check_llm_args(make_args(*argv))


def test_zhipu_backend_checks_key_and_grammar(monkeypatch):
    monkeypatch.delenv("ZHIPUAI_API_KEY", raising=False)
    with pytest.raises(UserError, match="ZHIPUAI_API_KEY"):
        check_llm_args(make_args("--llm_backend", "zhipu"))
    monkeypatch.setenv("ZHIPUAI_API_KEY", "k")
    with pytest.raises(UserError, match="grammar"):
        check_llm_args(make_args("--llm_backend", "zhipu", "--llm_grammar"))
    with pytest.raises(UserError, match="logprobs"):
        check_llm_args(make_args("--llm_backend", "zhipu", "--llm_plans", "logprobs"))


def test_zhipu_backend_against_fake(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHIPUAI_API_KEY", "zk")
    with FakeChatServer(ignore_n(lambda k: "Action: {explore}"), path="/api/paas/v4/chat/completions",
                        base="/api/paas/v4") as fake:
        args = make_args("--llm_backend", "zhipu", "--llm_url", fake.url, "--n_ask", "3", "--llm_temperature", "1.5")
        check_llm_args(args)
        p = build_planner(args, task_config("SimpleDoorKey"), tmp_path)
        assert p.plans(TEXT) == [("explore", 1.0)]
    assert len(fake.requests) == 3
    for body in fake.bodies:
        assert "n" not in body and "seed" not in body and body["temperature"] == 1.0 and body["model"] == "glm-4-flash"
    assert fake.requests[0][2]["Authorization"] == "Bearer zk"


def test_grammar_cache_key_covers_the_grammar_offered_for_the_text():
    client = type("Client", (), {"model": "m", "max_tokens": 64})()

    def observation_grammar(text):  # one name, two rule sets: the key must tell them apart
        return rules[0]
    rules = ['root ::= "Action: {explore}"']
    planner = LLMPlanner(client, "prompt", grammar=observation_grammar)
    before = planner.key(TEXT)
    rules[0] = 'root ::= "Action: {explore}" | "Action: {go to <key>}"'
    assert planner.key(TEXT) != before
    assert LLMPlanner(client, "prompt").key(TEXT) not in (before, planner.key(TEXT))  # free answers: no grammar


def test_the_answer_is_streamed_and_cut_off_once_it_has_decided(tmp_path):
    """The planner's request streams; it reads no event after the token that left one candidate on the answer's
    path (later events could not change the distribution), and the distribution is the one of the whole answer."""
    from planner.live.logprob_planner import decided
    from planner.llm.chat_reply import read_stream
    with FakeChatServer(logprob_reply) as fake:
        p = build_planner(make_args("--llm_url", fake.url, "--llm_plans", "logprobs", "--plan_cache",
                                    tmp_path / "c.json"), task_config("SimpleDoorKey"), tmp_path)
        assert dict(p.plans(TEXT)) == pytest.approx({"go to <key>, pick up <key>": 0.75, "explore": 0.25})
        assert len(fake.requests) == 1 and fake.requests[0][1]["stream"] is True

    plans = ["explore", "go to <key>, pick up <key>"]
    tokens = ["Action: {", "go", " to", " <", "key", ">,", " pick", " up", " <", "key", ">}"]
    events = [f'data: {{"choices": [{{"index": 0, "delta": {{"content": "{t}"}}, "logprobs": {{"content": '
              f'[{{"token": "{t}", "logprob": 0.0, "top_logprobs": []}}]}}}}]}}' for t in tokens]
    read = []

    class Response:
        def iter_lines(self):
            for line in events + ["data: [DONE]"]:
                read.append(line)
                yield line
                yield ""

    choice = read_stream(Response(), lambda toks: decided(plans, toks), "URL")
    assert choice[0]["text"] == "Action: {go" and len(read) == 2       # "go" decides: nothing more is read
    whole = read_stream(Response(), lambda toks: False, "URL")
    assert whole[0]["text"] == "".join(tokens) and len(whole[0]["logprobs"]) == len(tokens)
