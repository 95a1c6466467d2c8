"""The chat-completions client against real misbehaving HTTP servers on 127.0.0.1."""
import threading
import time

import pytest

from planner.llm.openai_client import ChatClient, LLMError
from planner.llm.urls import chat_completions_url
from planner.factory import preflight
from tests.helpers import planner_config
from tests.llm_fakes import FakeChatServer, Reply, completion, drip_server, honour_n, ignore_n, refused_url
from utils.errors import UserError

MSGS = [{"role": "system", "content": "sys"}, {"role": "user", "content": "Agent sees <key>, holds <nothing>."}]


def client(url, **kw):
    kw.setdefault("timeout", 2.0)
    kw.setdefault("retries", 2)
    kw.setdefault("backoff", 0.01)
    return ChatClient(url, kw.pop("model", "m"), **kw)


@pytest.mark.parametrize("given,expected", [
    ("http://h:1/v1", "http://h:1/v1/chat/completions"),
    ("http://h:1/v1/", "http://h:1/v1/chat/completions"),
    ("http://h:1", "http://h:1/v1/chat/completions"),
    ("h:1", "http://h:1/v1/chat/completions"),
    ("http://h:1/v1/chat/completions", "http://h:1/v1/chat/completions"),
    ("https://open.bigmodel.cn/api/paas/v4", "https://open.bigmodel.cn/api/paas/v4/chat/completions"),
])
def test_endpoint_url(given, expected):
    assert chat_completions_url(given) == expected


def test_bad_url_is_user_error():
    with pytest.raises(UserError):
        chat_completions_url("ftp://x")


def test_n_honoured_one_request_and_body():
    with FakeChatServer(honour_n(lambda k: f"Action: {{go to <key>}} #{k}")) as fake:
        c = client(fake.url, api_key="sk-secret")
        answers = c.complete(MSGS, n=4, temperature=0.7, seed=5, grammar="root ::= \"x\"")
    assert len(answers) == 4 and len(fake.requests) == 1
    path, body, headers = fake.requests[0]
    assert path == "/v1/chat/completions"
    assert body["n"] == 4 and body["seed"] == 5 and body["temperature"] == 0.7 and body["model"] == "m"
    assert body["grammar"] == "root ::= \"x\"" and body["messages"] == MSGS and body["max_tokens"] == 256
    assert headers["Authorization"] == "Bearer sk-secret"
    assert "sk-secret" not in repr(c)


def test_no_key_no_auth_header():
    with FakeChatServer(honour_n(lambda k: "a")) as fake:
        client(fake.url).complete(MSGS, n=1)
    assert "Authorization" not in fake.requests[0][2]


def test_topup_when_server_ignores_n():
    with FakeChatServer(ignore_n(lambda k: f"answer {k}")) as fake:
        c = client(fake.url)
        answers = c.complete(MSGS, n=5, seed=10)
    assert answers == [f"answer {k}" for k in range(5)]
    assert len(fake.requests) == 5 and c.counters["topups"] == 4
    seeds = [b["seed"] for b in fake.bodies]
    assert seeds == [10, 11, 12, 13, 14]  # a seeded server must not repeat one answer
    assert all("n" not in b for b in fake.bodies[1:])


def test_topup_when_server_returns_fewer():
    replies = iter([Reply.answers(["a", "b"]), Reply.answers(["c"]), Reply.answers(["d"]), Reply.answers(["e"])])
    with FakeChatServer(lambda i, b: next(replies)) as fake:
        assert client(fake.url).complete(MSGS, n=5) == list("abcde")
    assert len(fake.requests) == 4


def test_extra_choices_are_cut():
    with FakeChatServer(lambda i, b: Reply.answers(["a", "b", "c"])) as fake:
        assert client(fake.url).complete(MSGS, n=2) == ["a", "b"]


def test_500_then_success():
    replies = iter([Reply.error(500), Reply.error(503), Reply.answers(["ok"])])
    with FakeChatServer(lambda i, b: next(replies)) as fake:
        c = client(fake.url, retries=3)
        assert c.complete(MSGS, n=1) == ["ok"]
    assert len(fake.requests) == 3 and c.counters["retries"] == 2


def test_429_is_retried():
    replies = iter([Reply.error(429, "slow down"), Reply.answers(["ok"])])
    with FakeChatServer(lambda i, b: next(replies)) as fake:
        assert client(fake.url).complete(MSGS) == ["ok"]


def test_persistent_500_gives_up():
    with FakeChatServer(lambda i, b: Reply.error(500, "internal")) as fake:
        with pytest.raises(LLMError, match="failed after 3 attempts.*HTTP 500"):
            client(fake.url, retries=2).complete(MSGS)
    assert len(fake.requests) == 3
    with FakeChatServer(lambda i, b: Reply.error(500, "internal")) as fake:
        with pytest.raises(LLMError, match="failed after 1 attempt: HTTP 500"):  # one, not "1 attempts"
            client(fake.url, retries=0).complete(MSGS)


def test_hang_times_out_quickly():
    with FakeChatServer(lambda i, b: Reply.hang(300)) as fake:
        start = time.monotonic()
        with pytest.raises(LLMError, match="timed out") as err:
            client(fake.url, timeout=0.2, retries=1).complete(MSGS)
        assert time.monotonic() - start < 60  # two attempts of 0.2 s (a slow, busy machine included), not 300 s
    assert fake.url in str(err.value)


def test_hang_then_success():
    replies = iter([Reply.hang(10), Reply.answers(["ok"])])
    with FakeChatServer(lambda i, b: next(replies)) as fake:
        assert client(fake.url, timeout=0.3).complete(MSGS) == ["ok"]


def test_refused_connection_names_url():
    url = refused_url()
    start = time.monotonic()
    with pytest.raises(LLMError) as err:
        client(url, retries=1).complete(MSGS)
    assert url in str(err.value) and "connect" in str(err.value)
    assert "\n" not in str(err.value) and time.monotonic() - start < 30  # no long waits between attempts


def test_dropped_connection_is_retried():
    replies = iter([Reply(drop=True), Reply.answers(["ok"])])
    with FakeChatServer(lambda i, b: next(replies)) as fake:
        assert client(fake.url).complete(MSGS) == ["ok"]


@pytest.mark.parametrize("reply,match", [
    (Reply(raw=b"<html>proxy error</html>"), "not JSON"),
    (Reply(raw=b"\xff\xfe garbage"), "not JSON"),
    (Reply(payload={"foo": 1}), "no 'choices'"),
    (Reply(payload=[1, 2]), "not a JSON object"),
    (Reply(payload={"choices": "nope"}), "no 'choices'"),
    (Reply(payload={"choices": [{"index": 0}]}), "no 'message'"),
    (Reply(payload={"error": {"message": "model overloaded"}}), "model overloaded"),
])
def test_garbage_and_wrong_schema(reply, match):
    with FakeChatServer(lambda i, b: reply) as fake:
        with pytest.raises(LLMError, match=match):
            client(fake.url, retries=1).complete(MSGS)
    assert len(fake.requests) == 2  # retried once, then given up


def test_null_content_is_empty_answer():
    with FakeChatServer(lambda i, b: Reply(payload={"choices": [{"message": {"role": "assistant", "content": None}}]})) as fake:
        assert client(fake.url).complete(MSGS) == [""]


def test_no_choices_ever_is_bounded():
    with FakeChatServer(lambda i, b: Reply(payload={"choices": []})) as fake:
        with pytest.raises(LLMError, match="no choices"):
            client(fake.url).complete(MSGS, n=3)
    assert len(fake.requests) <= 5


@pytest.mark.parametrize("status,match", [(401, "API key"), (403, "API key"), (404, "404"), (400, "rejected")])
def test_client_errors_are_not_retried(status, match):
    with FakeChatServer(lambda i, b: Reply.error(status, "nope")) as fake:
        with pytest.raises(LLMError, match=match) as err:
            client(fake.url, api_key="sk-secret").complete(MSGS)
    assert len(fake.requests) == 1 and "sk-secret" not in str(err.value)


def test_list_models_and_ping():
    with FakeChatServer(honour_n(lambda k: "OK"), models=["a", "b"]) as fake:
        c = client(fake.url)
        assert c.list_models() == ["a", "b"]
        assert c.ping() == ["OK"]
        assert fake.bodies[0]["max_tokens"] == 1


# ---- hostile servers (issue: hardening) ----
def test_a_reply_sent_a_byte_a_second_ends_at_the_deadline():
    with FakeChatServer(lambda i, b: Reply(payload=completion(["Action: {explore}"]), drip=1.0)) as fake:
        start = time.monotonic()
        with pytest.raises(LLMError, match="no complete reply within 1.5 s|timed out"):
            client(fake.url, timeout=1.5, retries=1).complete(MSGS)
        assert time.monotonic() - start < 60  # two attempts of 1.5 s, not the minutes the whole reply would take


def test_retry_after_is_honoured_and_a_long_one_gives_up():
    replies = iter([Reply(status=429, payload={"error": {"message": "slow down"}}, headers={"Retry-After": "1"}),
                    Reply.answers(["ok"])])
    slept = []
    with FakeChatServer(lambda i, b: next(replies)) as fake:
        assert client(fake.url, sleep=slept.append).complete(MSGS) == ["ok"]
    assert slept == [1.0]  # the server's wait, not the client's 0.01 s backoff
    with FakeChatServer(lambda i, b: Reply(status=503, payload={"error": {"message": "busy"}},
                                           headers={"Retry-After": "3600"})) as fake:
        with pytest.raises(LLMError, match="asks to wait 3600 s"):
            client(fake.url, sleep=slept.append).complete(MSGS)


def test_a_password_in_the_url_is_never_shown():
    url = refused_url().replace("http://", "http://alice:hunter2@")
    with pytest.raises(LLMError) as err:
        client(url, retries=0).complete(MSGS)
    assert "hunter2" not in str(err.value) and "alice:***@" in str(err.value)
    assert "hunter2" not in repr(client(url))


def test_oversized_answers_count_as_no_answer_and_oversized_replies_are_refused(monkeypatch):
    huge = "Action: {explore}" + "x" * (64 * 1024)
    with FakeChatServer(lambda i, b: Reply.answers([huge, "Action: {explore}"])) as fake:
        assert client(fake.url).complete(MSGS, n=2) == ["", "Action: {explore}"]
    import planner.llm.openai_client as oc
    monkeypatch.setattr(oc, "MAX_REPLY_BYTES", 10_000)
    with FakeChatServer(lambda i, b: Reply.answers(["y" * 20_000])) as fake:
        with pytest.raises(LLMError, match="reply over"):
            client(fake.url).complete(MSGS)


# ---- a server that drips every reply (issue 22): the total deadline holds whatever it does ----
def outcome_within(seconds, fn):
    """(exception or None, seconds taken) of fn(), failing the test instead of hanging if fn is not done in time."""
    box = {}

    def run():
        start = time.monotonic()
        try:
            fn()
        except BaseException as e:
            box["error"] = e
        box["seconds"] = time.monotonic() - start
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds} s"
    return box.get("error"), box["seconds"]


@pytest.mark.parametrize("drip_headers", [False, True])
def test_a_dripping_server_fails_each_request_at_its_deadline(drip_headers):
    with drip_server(drip_headers=drip_headers) as fake:
        c = client(fake.url, timeout=1.5, retries=1)
        error, seconds = outcome_within(45, lambda: c.complete(MSGS))
        assert isinstance(error, LLMError) and "failed after 2 attempts: timed out after 1.5 s" in str(error)
        assert seconds < 30  # two attempts of 1.5 s, not the 100000 s the reply would take
        error, _ = outcome_within(45, c.list_models)
        assert isinstance(error, LLMError) and "no model list (timed out after 1.5 s" in str(error)
        assert len(fake.requests) == 2


def test_the_startup_check_against_a_dripping_server_ends_with_one_line():
    with drip_server() as fake:  # the model list (no --llm_model) and the ping both drip
        config = planner_config("--llm_url", fake.url, "--llm_timeout", "1.5", "--llm_retries", "1")
        error, seconds = outcome_within(45, lambda: preflight(config))
    assert isinstance(error, UserError) and "not usable before training" in str(error) and "\n" not in str(error)
    assert seconds < 30


def test_answers_per_request_gives_each_answer_its_own_deadline():
    """A server that generates a request's answers one after another (FastChat on a CPU: 1 s an answer here) cannot
    return ten answers within a 5 s deadline; asked one answer per request, each answer has the whole deadline."""
    def one_after_another(i, body):
        n = int(body.get("n") or 1)
        return Reply.answers([f"Action: {{explore}} {i}"] * n, delay=1.0 * n)

    with FakeChatServer(one_after_another) as fake:
        with pytest.raises(LLMError, match="timed out|no complete reply"):
            client(fake.url, timeout=5, retries=0).complete(MSGS, n=10, seed=7)
        fake.requests.clear()
        answers = client(fake.url, timeout=5, retries=0, answers_per_request=1).complete(MSGS, n=10, seed=7)
    assert len(answers) == 10 and len(set(answers)) == 10
    bodies = [body for _, body, _ in fake.requests]
    assert len(bodies) == 10 and all(body.get("n", 1) == 1 for body in bodies)
    assert [body["seed"] for body in bodies] == list(range(7, 17))


def test_answers_per_request_asks_in_batches():
    with FakeChatServer(honour_n(lambda k: f"a{k}")) as fake:
        answers = client(fake.url, answers_per_request=4).complete(MSGS, n=10)
    assert answers == [f"a{k}" for k in range(10)]
    assert [body.get("n", 1) for _, body, _ in fake.requests] == [4, 4, 2]


def test_a_server_that_limits_n_is_asked_one_answer_a_request():
    """llama-server refuses an `n` above its slots with HTTP 400 naming the field: the client then asks one answer
    a request (topping up to n), for this and every later call."""
    def responder(i, body):
        n = int(body.get("n") or 1)
        if n > 2:
            return Reply.error(400, f"Field 'n': Value must be between 1 <= value <= 2, but got {n}")
        return Reply.answers([f"Action: {{explore}} {i}"] * n)

    with FakeChatServer(responder) as fake:
        client = ChatClient(fake.url, "fake-model", timeout=10, retries=0)
        assert len(client.complete([{"role": "user", "content": "x"}], n=3)) == 3
        assert len(client.complete([{"role": "user", "content": "y"}], n=4)) == 4
        sent = [int(b.get("n") or 1) for b in fake.bodies]
    assert sent == [3, 1, 1, 1, 1, 1, 1, 1]  # refused once, then one answer a request
