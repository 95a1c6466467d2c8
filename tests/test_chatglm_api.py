"""The ChatGLM proxy (python -m utils.chatglm_api) against a fake Zhipu upstream on 127.0.0.1."""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from planner.llm.openai_client import ChatClient, LLMError
from tests.llm_fakes import FakeChatServer, Reply, ignore_n, refused_url
from planner.servers import chatglm_proxy as chatglm_api
from utils.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
ZHIPU_PATH = "/api/paas/v4/chat/completions"
MSGS = [{"role": "system", "content": "s"}, {"role": "user", "content": "Agent sees <key>, holds <nothing>."}]


def fake_zhipu(responder=None):
    responder = responder or ignore_n(lambda k: f"Action: {{go to <key>, pick up <key>}} ({k})")
    return FakeChatServer(responder, models=None, path=ZHIPU_PATH, base="/api/paas/v4")


def post(url, body, timeout=5):
    req = urllib.request.Request(url + "/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_proxy_answers_n_with_single_upstream_requests(monkeypatch):
    monkeypatch.setenv("ZHIPUAI_API_KEY", "zhipu-secret")
    with fake_zhipu() as up, chatglm_api.serving(upstream=up.url, port=0, quiet=True) as proxy:
        client = ChatClient(proxy.url, "default", timeout=5, retries=0)
        answers = client.complete(MSGS, n=3, temperature=1.7, seed=3)
        assert len(answers) == 3 and len(set(answers)) == 3
        assert all(a.startswith("Action: {go to <key>, pick up <key>}") for a in answers)
        assert len(up.requests) == 3
        for path, body, headers in up.requests:
            assert path == ZHIPU_PATH and headers["Authorization"] == "Bearer zhipu-secret"
            assert body["model"] == "glm-4-flash" and body["messages"] == MSGS
            assert "n" not in body and "seed" not in body and body["temperature"] == 1.0
        assert client.list_models() == ["glm-4-flash"]
        status, reply = post(proxy.url, {"model": "glm-4-plus", "messages": MSGS, "temperature": 0})
        assert status == 200 and reply["model"] == "glm-4-plus" and reply["object"] == "chat.completion"
        assert up.bodies[-1]["model"] == "glm-4-plus" and up.bodies[-1]["do_sample"] is False


@pytest.mark.parametrize("body,match", [
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "user"}]}, "messages"),
    ({"messages": MSGS, "stream": True}, "streaming"),
    ({"messages": MSGS, "n": 0}, "'n'"),
    ({"messages": MSGS, "n": 99}, "'n'"),
    ({"messages": MSGS, "temperature": "hot"}, "temperature"),
    ([1, 2], "object"),
])
def test_proxy_rejects_bad_requests(monkeypatch, body, match):
    monkeypatch.setenv("ZHIPUAI_API_KEY", "k")
    with fake_zhipu() as up, chatglm_api.serving(upstream=up.url, port=0, quiet=True) as proxy:
        status, reply = post(proxy.url, body)
    assert status == 400 and match in reply["error"]["message"] and not up.requests


def test_proxy_upstream_failure_is_502(monkeypatch):
    monkeypatch.setenv("ZHIPUAI_API_KEY", "zhipu-secret")
    with fake_zhipu(lambda i, b: Reply.error(500, "upstream broke")) as up, \
            chatglm_api.serving(upstream=up.url, port=0, retries=1, quiet=True) as proxy:
        status, reply = post(proxy.url, {"messages": MSGS})
        assert status == 502 and "HTTP 500" in reply["error"]["message"]
        assert "zhipu-secret" not in json.dumps(reply)
        with pytest.raises(LLMError, match="502"):
            ChatClient(proxy.url, "default", timeout=5, retries=0).complete(MSGS)


def test_proxy_bad_key_is_reported(monkeypatch):
    monkeypatch.setenv("ZHIPUAI_API_KEY", "wrong")
    with fake_zhipu(lambda i, b: Reply.error(401, "invalid api key")) as up, \
            chatglm_api.serving(upstream=up.url, port=0, quiet=True) as proxy:
        status, reply = post(proxy.url, {"messages": MSGS})
    assert status == 502 and "API key" in reply["error"]["message"] and len(up.requests) == 1


def test_proxy_unreachable_upstream(monkeypatch):
    monkeypatch.setenv("ZHIPUAI_API_KEY", "k")
    with chatglm_api.serving(upstream=refused_url(), port=0, retries=0, quiet=True) as proxy:
        status, reply = post(proxy.url, {"messages": MSGS})
    assert status == 502 and "connect" in reply["error"]["message"]


def test_missing_key(monkeypatch, capsys):
    monkeypatch.delenv("ZHIPUAI_API_KEY", raising=False)
    with pytest.raises(UserError, match="ZHIPUAI_API_KEY"):
        chatglm_api.make_server(port=0)
    assert chatglm_api.main(["--port", "0"]) == 2
    assert "ZHIPUAI_API_KEY" in capsys.readouterr().err


def test_official_command_serves(tmp_path):
    """`python -m utils.chatglm_api --host H --port P` as a separate process."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with fake_zhipu() as up:
        env = dict(os.environ, ZHIPUAI_API_KEY="k", ZHIPU_API_URL=up.url, PYTHONPATH=str(ROOT))
        proc = subprocess.Popen([sys.executable, "-m", "utils.chatglm_api", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            url = f"http://127.0.0.1:{port}/v1"
            deadline = time.monotonic() + 20
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                    break
                except OSError:
                    assert proc.poll() is None, proc.stderr.read()
                    assert time.monotonic() < deadline, "proxy did not start"
                    time.sleep(0.1)
            assert ChatClient(url, "default", timeout=5, retries=0).complete(MSGS, n=2)[0].startswith("Action:")
            assert len(up.requests) == 2
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=10)
    assert f"--llm_url {url}" in out and "k\n" not in err


def test_proxy_with_a_token_refuses_clients_without_it(monkeypatch):
    monkeypatch.setenv("ZHIPUAI_API_KEY", "k")
    monkeypatch.setenv("PROXY_TOKEN", "let-me-in")
    with fake_zhipu() as up, chatglm_api.serving(upstream=up.url, port=0, quiet=True, token_env="PROXY_TOKEN") as proxy:
        status, reply = post(proxy.url, {"messages": MSGS})
        assert status == 401 and "token" in reply["error"]["message"] and not up.requests
        with pytest.raises(LLMError, match="HTTP 401"):
            ChatClient(proxy.url, "default", timeout=5, retries=0, api_key="wrong").complete(MSGS)
        assert ChatClient(proxy.url, "default", timeout=5, retries=0, api_key="let-me-in").complete(MSGS)
    monkeypatch.delenv("PROXY_TOKEN")
    with pytest.raises(UserError, match="PROXY_TOKEN"):
        chatglm_api.make_server(port=0, token_env="PROXY_TOKEN")
