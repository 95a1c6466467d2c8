"""Fake LLM servers on 127.0.0.1 for the tests: real HTTP, scripted (mis)behaviour, never hanging forever.

    with FakeChatServer(lambda i, body: Reply.answers(["Action: {explore}"] * body.get("n", 1))) as fake:
        fake.url        # http://127.0.0.1:PORT/v1
        fake.requests   # [(path, body, headers), ...] of the chat requests received

    with drip_server() as fake: ...   # every request answered with headers, then a byte a second, never complete
"""
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def completion(answers, model="fake-model"):
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": i, "message": {"role": "assistant", "content": a}, "finish_reason": "stop"}
                        for i, a in enumerate(answers)]}


class Reply:
    """What the fake answers: a JSON payload (or raw bytes) with a status, after `delay` seconds; `drop`: close the
    connection instead; `drip`: send the body one byte every `drip` seconds (after the headers, which announce the
    whole body's Content-Length; with `drip_headers` the status line and headers too); `headers`: extra headers."""

    def __init__(self, status=200, payload=None, raw=None, delay=0.0, drop=False, drip=None, headers=None,
                 drip_headers=False):
        self.status, self.payload, self.raw, self.delay, self.drop = status, payload, raw, delay, drop
        self.drip, self.headers, self.drip_headers = drip, dict(headers or {}), drip_headers

    @classmethod
    def answers(cls, answers, **kw):
        return cls(payload=completion(list(answers)), **kw)

    @classmethod
    def error(cls, status, message="boom"):
        return cls(status=status, payload={"error": {"message": message}})

    @classmethod
    def hang(cls, seconds=5.0):
        return cls(delay=seconds, payload=completion(["Action: {explore}"]))


def asked_text(body):
    """The observation text a chat request asks about: its last user message (a logprobs request ends with the
    reply begun for the model)."""
    return [m["content"] for m in body["messages"] if m.get("role") == "user"][-1]


def streamed(reply):
    """The reply as a llama.cpp-style stream of server-sent events: one event per token of the first choice's
    log-probabilities (its text as the delta), or the whole text in one event when it has none; then [DONE]."""
    choice = reply.payload["choices"][0]
    text = choice["message"]["content"]
    content = (choice.get("logprobs") or {}).get("content")
    parts = [(t["token"], {"content": [t]}) for t in content] if content else [(text, None)]
    events = [{"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": token},
                                                                "logprobs": logprobs, "finish_reason": None}]}
              for token, logprobs in parts]
    raw = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return Reply(raw=raw.encode("utf-8"), headers={"Content-Type": "text/event-stream"}, delay=reply.delay)


def honour_n(answer_fn):
    """A responder that returns body['n'] answers, answer_fn(k) for the k-th answer over the whole run."""
    counter = {"k": 0}
    lock = threading.Lock()

    def responder(i, body):
        out = []
        for _ in range(int(body.get("n") or 1)):
            with lock:
                out.append(answer_fn(counter["k"]))
                counter["k"] += 1
        return Reply.answers(out)
    return responder


def ignore_n(answer_fn):
    """Like llama.cpp / Ollama: one answer per request whatever `n` says."""
    counter = {"k": 0}
    lock = threading.Lock()

    def responder(i, body):
        with lock:
            k = counter["k"]
            counter["k"] += 1
        return Reply.answers([answer_fn(k)])
    return responder


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, reply):
        fake = self.server.fake
        if reply.delay:
            fake.stopping.wait(reply.delay)
        if reply.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        data = reply.raw if reply.raw is not None else json.dumps(reply.payload).encode("utf-8")
        headers = {"Content-Type": "application/json", "Content-Length": str(len(data)), **reply.headers}
        try:
            if reply.drip is not None and reply.drip_headers:
                head = f"{self.protocol_version} {reply.status} {self.responses[reply.status][0]}\r\n"
                data = (head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode() + data
            else:
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
            if reply.drip is None:
                self.wfile.write(data)
                return
            for i in range(len(data)):  # a byte at a time, until the client gives up or the fake stops
                if fake.stopping.wait(reply.drip):
                    return
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
        except OSError:
            pass

    def do_GET(self):
        fake = self.server.fake
        if fake.on_get is not None:
            self._reply(fake.on_get(self.path))
        elif self.path.rstrip("/").endswith("/models") and fake.models is not None:
            self._reply(Reply(payload={"object": "list", "data": [{"id": m, "object": "model"} for m in fake.models]}))
        else:
            self._reply(Reply.error(404, "not found"))

    def do_POST(self):
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            body = None
        with fake.lock:
            index = len(fake.requests)
            fake.requests.append((self.path, body, self.headers))  # case-insensitive, as HTTP headers are
        if fake.path is not None and self.path != fake.path:
            self._reply(Reply.error(404, f"no route {self.path}"))
            return
        reply = fake.responder(index, body)
        if isinstance(body, dict) and body.get("stream") and reply.status == 200 and isinstance(reply.payload, dict) \
                and reply.payload.get("choices"):
            reply = streamed(reply)
        self._reply(reply)


class FakeChatServer:
    """A scripted OpenAI-style server; responder(index, body) -> Reply for POSTs; GETs list `models`, or get the
    Reply of on_get(path)."""

    def __init__(self, responder, models=("fake-model",), path="/v1/chat/completions", base="/v1", on_get=None):
        self.responder, self.on_get = responder, on_get
        self.models = list(models) if models is not None else None
        self.path = path
        self.base = base
        self.requests = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.httpd.fake = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self):
        return self.httpd.server_address[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}{self.base}"

    @property
    def bodies(self):
        return [b for _, b, _ in self.requests]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def drip_server(seconds=1.0, length=100_000, drip_headers=False):
    """A server that answers every request, chat or model list, with its headers (Content-Length: `length`) and
    then one byte every `seconds`: a reply that would take `length` seconds, which no client should wait for.
    With drip_headers the status line and headers come a byte at a time too."""
    reply = Reply(raw=b" " * length, drip=seconds, drip_headers=drip_headers)
    return FakeChatServer(lambda i, body: reply, on_get=lambda path: reply)


def refused_url():
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
