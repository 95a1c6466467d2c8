"""A small client for OpenAI-compatible `POST /v1/chat/completions` servers (standard library only).

Works with FastChat's openai_api_server, vLLM, llama.cpp's server (also `python -m llama_cpp.server`) and
Ollama. What differs between them and is handled here:
  * `n` (several answers per request) is honoured by FastChat and vLLM but ignored by llama.cpp and Ollama:
    `complete()` asks for n and tops up with single requests until it has n answers.
  * `seed` is honoured by llama.cpp, vLLM and Ollama; single top-up requests use seed+1, seed+2, ... so a
    seeded server does not return the same answer n times.
  * `grammar` (a GBNF string) is llama.cpp's constrained decoding; other servers ignore the field.

Failures: connection errors, timeouts, HTTP 429 and 5xx and replies that are not a chat completion are retried
a bounded number of times with exponential backoff; then (or at once for other 4xx) `LLMError` is raised with one
line naming the URL. The API key is held only by the client object (read from an environment variable by the
caller) and is never part of an error message.
"""
import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

from utils.errors import LLMError, UserError

CHAT_PATH = "/chat/completions"


def chat_completions_url(url):
    """The full chat-completions endpoint for a base URL given as `host:port`, `.../v1` or the endpoint itself."""
    url = str(url).strip()
    if not url:
        raise UserError("empty LLM URL")
    if "://" not in url:
        url = "http://" + url
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UserError(f"LLM URL must look like http://host:port/v1, got {url!r}")
    path = parsed.path.rstrip("/")
    if path.endswith(CHAT_PATH):
        pass
    elif path.endswith("/v1") or path.endswith("/v4") or path.endswith("/api/paas/v4"):
        path += CHAT_PATH
    else:
        path += "/v1" + CHAT_PATH
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, parsed.query, ""))


_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def _opener(endpoint):
    """urllib opener; a server on this machine is reached directly even when an HTTP proxy is configured."""
    host = (urllib.parse.urlsplit(endpoint).hostname or "").lower()
    if host in _LOOPBACK or host.startswith("127."):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def _short(text, limit=200):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


class _Retryable(Exception):
    """A failure worth another try (connection, timeout, 429/5xx, malformed reply)."""


class ChatClient:
    """Chat completions against one OpenAI-compatible server.

    complete(messages, n, ...) -> list of n answer strings (an answer with no text content is "").
    """

    supports_n = True  # the server may honour `n`; if it returns fewer, the rest is topped up

    def __init__(self, url, model, api_key=None, timeout=60.0, retries=3, backoff=0.5, max_backoff=8.0,
                 max_tokens=256, max_topup_failures=3, sleep=time.sleep):
        self.endpoint = chat_completions_url(url)
        self.url = url
        self.model = model
        self._api_key = api_key or None
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.max_tokens = max_tokens
        self.max_topup_failures = max_topup_failures
        self._sleep = sleep
        self.counters = {"requests": 0, "retries": 0, "topups": 0, "request_seconds": 0.0,
                         "request_max_s": 0.0}

    def __repr__(self):  # never shows the key
        return f"{type(self).__name__}(endpoint={self.endpoint!r}, model={self.model!r})"

    def __getstate__(self):  # picklable for worker processes (no sockets are kept)
        return dict(self.__dict__, _sleep=None)

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self._sleep is None:
            self._sleep = time.sleep

    # ---- request body / reply parsing (overridden by other backends) ----
    def build_body(self, messages, n, temperature, seed, grammar, max_tokens):
        body = {"model": self.model, "messages": messages, "stream": False}
        if n != 1:
            body["n"] = n
        if temperature is not None:
            body["temperature"] = temperature
        if seed is not None:
            body["seed"] = int(seed)
        if grammar:
            body["grammar"] = grammar
        if max_tokens:
            body["max_tokens"] = int(max_tokens)
        return body

    def headers(self):
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    @staticmethod
    def parse_choices(payload):
        """Answer strings of a chat-completion object; raises ValueError if it is not one."""
        if not isinstance(payload, dict):
            raise ValueError("reply is not a JSON object")
        if "error" in payload and "choices" not in payload:
            err = payload["error"]
            msg = err.get("message") if isinstance(err, dict) else err
            raise ValueError(f"server error: {_short(msg)}")
        choices = payload.get("choices")
        if not isinstance(choices, list):
            raise ValueError("reply has no 'choices' list")
        answers = []
        for choice in choices:
            if not isinstance(choice, dict):
                raise ValueError("a choice is not an object")
            message = choice.get("message")
            if isinstance(message, dict):
                content = message.get("content")
            elif "text" in choice:  # completion-style servers
                content = choice.get("text")
            else:
                raise ValueError("a choice has no 'message'")
            answers.append(content if isinstance(content, str) else "")
        return answers

    # ---- transport ----
    def _post_once(self, body):
        data = json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.endpoint, data=data, headers=self.headers(), method="POST")
        try:
            with _opener(self.endpoint).open(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            detail = ""
            try:
                detail = _short(e.read().decode("utf-8", "replace"))
            except Exception:
                pass
            if e.code == 429 or e.code >= 500:
                raise _Retryable(f"HTTP {e.code} {detail}".strip()) from None
            if e.code in (401, 403):
                raise LLMError(f"LLM server {self.url} refused the request (HTTP {e.code}: check the API key "
                               f"environment variable) {detail}".strip()) from None
            if e.code == 404:
                raise LLMError(f"LLM server {self.url}: HTTP 404 at {self.endpoint} (wrong URL or unknown "
                               f"model {self.model!r}) {detail}".strip()) from None
            raise LLMError(f"LLM server {self.url} rejected the request (HTTP {e.code}) {detail}".strip()) from None
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise _Retryable(f"timed out after {self.timeout:g} s") from None
            raise _Retryable(f"cannot connect ({reason})") from None
        except (socket.timeout, TimeoutError):
            raise _Retryable(f"timed out after {self.timeout:g} s") from None
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            raise _Retryable(f"connection failed ({type(e).__name__}: {e})") from None
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _Retryable(f"reply is not JSON: {_short(raw[:200])!r}") from None
        try:
            return self.parse_choices(payload)
        except ValueError as e:
            raise _Retryable(f"reply is not a chat completion ({e})") from None

    def request(self, body):
        """One logical request with bounded retries; returns the list of answers."""
        last = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.counters["retries"] += 1
                self._sleep(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))
            start = time.monotonic()
            try:
                answers = self._post_once(body)
            except _Retryable as e:
                last = str(e)
                continue
            finally:
                elapsed = time.monotonic() - start
                self.counters["requests"] += 1
                self.counters["request_seconds"] += elapsed
                self.counters["request_max_s"] = max(self.counters["request_max_s"], elapsed)
            return answers
        raise LLMError(f"LLM server {self.url} failed after {self.retries + 1} attempts: {last}")

    def complete(self, messages, n=1, temperature=None, seed=None, grammar=None, max_tokens=None):
        """n answers to one conversation (tops up with single requests when the server returns fewer)."""
        n = int(n)
        if n < 1:
            return []
        max_tokens = self.max_tokens if max_tokens is None else max_tokens
        first_n = n if self.supports_n else 1
        answers = list(self.request(self.build_body(messages, first_n, temperature, seed, grammar, max_tokens)))
        answers = answers[:n]
        failures, k = 0, 0
        while len(answers) < n:
            k += 1
            self.counters["topups"] += 1
            more = self.request(self.build_body(messages, 1, temperature, None if seed is None else seed + k,
                                                grammar, max_tokens))
            if not more:
                failures += 1
                if failures >= self.max_topup_failures:
                    raise LLMError(f"LLM server {self.url} returned no choices ({len(answers)} of {n} answers)")
                continue
            answers.extend(more[: n - len(answers)])
        return answers

    def models_url(self):
        return self.endpoint[: -len(CHAT_PATH)] + "/models"

    def list_models(self):
        """Model ids from GET .../v1/models (one attempt); raises LLMError when the server has no such list."""
        request = urllib.request.Request(self.models_url(), headers=self.headers(), method="GET")
        try:
            with _opener(self.endpoint).open(request, timeout=self.timeout) as response:
                payload = json.loads(response.read().decode("utf-8"))
            return [m["id"] for m in payload["data"] if isinstance(m, dict) and isinstance(m.get("id"), str)]
        except urllib.error.HTTPError as e:
            raise LLMError(f"LLM server {self.url}: GET {self.models_url()} gave HTTP {e.code}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            raise LLMError(f"cannot reach LLM server {self.url} ({getattr(e, 'reason', e)})") from None
        except (ValueError, KeyError, TypeError) as e:
            raise LLMError(f"LLM server {self.url}: {self.models_url()} is not a model list ({e})") from None

    def ping(self):
        """One tiny request (raises LLMError/UserError naming the URL when it fails)."""
        return self.request(self.build_body([{"role": "user", "content": "Say OK."}], 1, 0.0, None, None, 1))
