"""ChatGLM as an OpenAI-compatible endpoint: a small proxy in front of Zhipu's chat API.

    export ZHIPUAI_API_KEY=...                       # your key from open.bigmodel.cn (never logged)
    python -m planner.servers.chatglm_proxy --host 127.0.0.1 --port 8000
    python main.py --task SimpleDoorKey --llm_url http://127.0.0.1:8000/v1

Serves `POST /v1/chat/completions` (non-streaming; `n` answers are asked upstream one by one, since Zhipu's API
has no `n`), `GET /v1/models` and `GET /health`. Upstream failures become HTTP 502 with an OpenAI-style error.
Standard library only.
"""
import argparse
import contextlib
import hmac
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from planner.llm.zhipu_client import ZHIPU_KEY_ENV, ZHIPU_MODEL, ZHIPU_URL, ZhipuClient
from utils.errors import LLMError, UserError

MAX_N = 16
MAX_BODY = 4 * 1024 * 1024


class ChatGLMProxy(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, upstream=ZHIPU_URL, api_key=None, model=ZHIPU_MODEL, timeout=60.0, retries=2,
                 quiet=False, token=None):
        super().__init__(address, ProxyHandler)
        self._token = token  # clients must send "Authorization: Bearer <token>" when set
        self.upstream = upstream
        self._api_key = api_key
        self.model = model
        self.timeout = timeout
        self.retries = retries
        self.quiet = quiet

    def client(self, model):
        return ZhipuClient(self.upstream, model, api_key=self._api_key, timeout=self.timeout, retries=self.retries,
                           max_tokens=None)

    @property
    def url(self):
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"


class ProxyHandler(BaseHTTPRequestHandler):
    server_version = "llm4teach-chatglm-proxy/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # one short line per request, no bodies, no headers
        if not self.server.quiet:
            sys.stderr.write(f"chatglm_api: {self.address_string()} {fmt % args}\n")

    def _send(self, status, payload):
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, message, kind="invalid_request_error"):
        self._send(status, {"error": {"message": message, "type": kind, "code": status}})

    def _authorized(self):
        """With a token, every request but /health must carry it (HTTP 401 otherwise)."""
        token = self.server._token
        if not token or hmac.compare_digest(self.headers.get("Authorization", ""), f"Bearer {token}"):
            return True
        self._error(401, "missing or wrong API token (Authorization: Bearer ...)", "authentication_error")
        return False

    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        if path not in ("/health", "") and not self._authorized():
            return
        if path in ("/health", ""):
            self._send(200, {"status": "ok"})
        elif path in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [{"id": self.server.model, "object": "model",
                                                          "owned_by": "zhipu"}]})
        else:
            self._error(404, f"no route GET {path}")

    def do_POST(self):
        if not self._authorized():
            return
        path = self.path.split("?")[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no route POST {path}")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length <= 0 or length > MAX_BODY:
            self._error(400, "a JSON body with Content-Length is required")
            return
        try:
            body = json.loads(self.rfile.read(length).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._error(400, "the body is not JSON")
            return
        problem = _check(body)
        if problem:
            self._error(400, problem)
            return
        model = body.get("model")
        if not isinstance(model, str) or model in ("", "default"):
            model = self.server.model
        n = int(body.get("n") or 1)
        try:
            answers = self.server.client(model).complete(body["messages"], n=n, temperature=body.get("temperature"),
                                                         max_tokens=body.get("max_tokens"))
        except LLMError as e:
            self._error(502, f"ChatGLM upstream failed: {e}", "upstream_error")
            return
        self._send(200, {
            "id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": i, "message": {"role": "assistant", "content": a}, "finish_reason": "stop"}
                        for i, a in enumerate(answers)],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        })


def _check(body):
    """A reason to reject a chat request, or None."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    messages = body.get("messages")
    if (not isinstance(messages, list) or not messages
            or not all(isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                       for m in messages)):
        return "'messages' must be a non-empty list of {role, content} strings"
    if body.get("stream"):
        return "streaming is not supported by this proxy"
    n = body.get("n", 1)
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N):
        return f"'n' must be an integer from 1 to {MAX_N}"
    t = body.get("temperature")
    if t is not None and (not isinstance(t, (int, float)) or isinstance(t, bool) or t < 0):
        return "'temperature' must be a number >= 0"
    mt = body.get("max_tokens")
    if mt is not None and (not isinstance(mt, int) or isinstance(mt, bool) or mt < 1):
        return "'max_tokens' must be a positive integer"
    return None


def make_server(host="127.0.0.1", port=8000, upstream=None, api_key_env=ZHIPU_KEY_ENV, model=ZHIPU_MODEL,
                timeout=60.0, retries=2, quiet=False, token_env=None):
    key = os.environ.get(api_key_env)
    if not key:
        raise UserError(f"environment variable {api_key_env} (the Zhipu API key) is not set")
    token = os.environ.get(token_env) if token_env else None
    if token_env and not token:
        raise UserError(f"environment variable {token_env} (the token clients must send) is not set")
    upstream = upstream or os.environ.get("ZHIPU_API_URL") or ZHIPU_URL
    try:
        return ChatGLMProxy((host, port), upstream=upstream, api_key=key, model=model, timeout=timeout,
                            retries=retries, quiet=quiet, token=token)
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None


@contextlib.contextmanager
def serving(**kwargs):
    """Run a proxy in a background thread (tests); yields the server (its .url is the --llm_url)."""
    server = make_server(**kwargs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m planner.servers.chatglm_proxy",
                                     description="Expose ChatGLM (Zhipu's chat API) as an OpenAI-compatible endpoint.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", default=ZHIPU_MODEL, help="Zhipu model for requests naming none (default %(default)s)")
    parser.add_argument("--upstream", default=None,
                        help=f"Zhipu API base URL (default $ZHIPU_API_URL or {ZHIPU_URL})")
    parser.add_argument("--api_key_env", default=ZHIPU_KEY_ENV, help="environment variable with the key (%(default)s)")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--token_env", default=None,
                        help="environment variable holding a token clients must send (Authorization: Bearer TOKEN; "
                             "main.py sends it with --llm_api_key_env NAME). Without it anyone who can reach the port "
                             "spends your Zhipu quota: keep the proxy on 127.0.0.1 or set a token")
    args = parser.parse_args(argv)
    try:
        server = make_server(args.host, args.port, args.upstream, args.api_key_env, args.model, args.timeout,
                             args.retries, args.quiet, args.token_env)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"ChatGLM ({args.model} via {server.upstream}) served at {server.url}; use --llm_url {server.url}",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
