"""Chat completions from OpenAI-compatible servers (FastChat, vLLM, llama.cpp, Ollama, Zhipu's v4 API) through the
`openai` SDK, plus what the SDK does not do:

  * a total deadline per HTTP attempt (`timeout`; the model list: at most MODELS_TIMEOUT): the attempt is abandoned
    and its connection closed when it passes (utils.deadline), so a server that sends its headers or its reply a
    byte at a time cannot hang a run;
  * bounded retries with backoff after connection errors, timeouts, HTTP 429/5xx (honouring Retry-After) and
    replies that are not a chat completion; other 4xx fail at once;
  * `n` topped up with single requests for servers that ignore it (llama.cpp, Ollama), with seed+1, seed+2, ...;
  * llama.cpp's GBNF `grammar` (and any other extra field) via the SDK's `extra_body`;
  * size limits (planner.llm.chat_reply): a reply over MAX_REPLY_BYTES is refused, an answer over MAX_ANSWER_CHARS
    counts as no answer;
  * counters for the logs; every wait can be cut short by a stop request (utils.interrupt), so Ctrl-C is honoured
    at once whatever the run waits on.

The API key is held only by the client (read from an environment variable by the caller); no error message shows
it, nor a password written into the URL.
"""
import email.utils
import json
import time

from planner.llm.chat_reply import MAX_REPLY_BYTES, parse_choices, read_stream, short as _short
from planner.llm.urls import base_url, is_loopback, redact
from utils import interrupt
from utils.deadline import DeadlineExceeded, call_within
from utils.errors import LLMError

MAX_RETRY_AFTER = 60.0
MODELS_TIMEOUT = 10.0  # the model list is small: at most this long (or --llm_timeout if shorter)


class _Retryable(Exception):
    """A failure worth another try (connection, timeout, 429/5xx, malformed reply); `wait`: Retry-After."""

    def __init__(self, message, wait=None):
        super().__init__(message)
        self.wait = wait


def _retry_after(headers):
    value = (headers or {}).get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, when.timestamp() - time.time()) if when else None


def _refuses_n(error):
    """Whether an LLMError is a server's refusal of the request's `n` (HTTP 400 naming the field)."""
    text = str(error)
    return "HTTP 400" in text and ("'n'" in text or '"n"' in text)


class ChatClient:
    """Chat completions against one OpenAI-compatible server.

    complete(messages, n, ...) -> list of n answer strings (an answer with no usable text is "").
    """

    supports_n = True  # the server may honour `n`; if it returns fewer, the rest is topped up
    streams_logprobs = None  # whether the server streams log-probabilities (None: not known yet)

    def __init__(self, url, model, api_key=None, timeout=60.0, retries=3, backoff=0.5, max_backoff=8.0,
                 max_tokens=256, max_topup_failures=3, sleep=time.sleep, answers_per_request=0):
        self.base = base_url(url)
        self.url = redact(url)  # what messages show
        self.model = model
        self._api_key = api_key or None
        self.timeout, self.retries = float(timeout), int(retries)
        self.backoff, self.max_backoff = float(backoff), float(max_backoff)
        self.max_tokens, self.max_topup_failures = max_tokens, max_topup_failures
        self.answers_per_request = int(answers_per_request or 0)  # 0: all n in one request
        self._sleep = sleep
        self._sdk = None
        self.counters = {"requests": 0, "retries": 0, "topups": 0, "request_seconds": 0.0, "request_max_s": 0.0}

    def __repr__(self):  # never shows the key
        return f"{type(self).__name__}(url={self.url!r}, model={self.model!r})"

    def __getstate__(self):  # picklable for worker processes (no connections are kept)
        return dict(self.__dict__, _sleep=None, _sdk=None)

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._sleep = self._sleep or time.sleep

    def sdk(self):
        if self._sdk is None:
            import openai
            self._sdk = openai.OpenAI(base_url=self.base, api_key=self._api_key or "none", max_retries=0,
                                      http_client=openai.DefaultHttpxClient(trust_env=not is_loopback(self.base)))
        return self._sdk  # (no proxy for 127.*)

    def _headers(self):
        """Per-request headers: without an API key, no Authorization header at all."""
        import openai
        return {} if self._api_key else {"Authorization": openai.Omit()}

    def close(self):
        """Drop the connections (also how a call past its deadline is abandoned: its socket is closed under it)."""
        sdk, self._sdk = self._sdk, None
        if sdk is not None:
            try:
                sdk.close()
            except Exception:  # closing under a call in flight: whatever it raises, the connection is gone
                pass

    def _within_deadline(self, fn, seconds):
        """fn(sdk) with a total limit of `seconds`, whatever the server does (headers or body a byte at a time):
        past it the connection is closed and _Retryable raised."""
        sdk = self.sdk()
        try:
            return call_within(lambda: fn(sdk), seconds, abandon=self.close)
        except DeadlineExceeded:
            raise _Retryable(f"timed out after {seconds:g} s (no complete reply)") from None

    # ---- the request body (overridden by other backends) ----
    def build_body(self, messages, n, temperature, seed, grammar, max_tokens, extra=None):
        """(create() arguments, extra_body) of one request."""
        args = {"model": self.model, "messages": messages}
        if n != 1:
            args["n"] = n
        if temperature is not None:
            args["temperature"] = temperature
        if seed is not None:
            args["seed"] = int(seed)
        if max_tokens:
            args["max_tokens"] = int(max_tokens)
        body = dict(extra or {})
        if grammar:
            body["grammar"] = grammar
        return args, body

    # ---- one HTTP attempt with its deadline ----
    def _post_once(self, args, extra_body, until=None):
        return self._within_deadline(lambda sdk: self._post(sdk, args, extra_body, until), self.timeout)

    def _post(self, sdk, args, extra_body, until=None):
        import openai
        timeout = openai.Timeout(self.timeout, connect=min(self.timeout, 10.0))
        chunks, size = [], 0
        try:
            with sdk.chat.completions.with_streaming_response.create(
                    **args, extra_body=extra_body or None, extra_headers=self._headers(), timeout=timeout) as response:
                if until is not None:   # streamed: read tokens until `until` has enough, then hang up
                    try:
                        return read_stream(response, until, self.url)
                    except ValueError as e:
                        raise _Retryable(str(e)) from None
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_REPLY_BYTES:
                        raise LLMError(f"LLM server {self.url} sent a reply over {MAX_REPLY_BYTES // 2**20} MiB")
                    chunks.append(chunk)
        except openai.APIStatusError as e:
            detail = _short(getattr(e, "message", "") or e)
            code = e.status_code
            if code == 429 or code >= 500:
                raise _Retryable(f"HTTP {code} {detail}".strip(), _retry_after(e.response.headers)) from None
            if code in (401, 403):
                raise LLMError(f"LLM server {self.url} refused the request (HTTP {code}: check the API key "
                               f"environment variable) {detail}".strip()) from None
            if code == 404:
                raise LLMError(f"LLM server {self.url}: HTTP 404 (wrong URL, or unknown model {self.model!r}) "
                               f"{detail}".strip()) from None
            raise LLMError(f"LLM server {self.url} rejected the request (HTTP {code}) {detail}".strip()) from None
        except openai.APITimeoutError:
            raise _Retryable(f"timed out after {self.timeout:g} s") from None
        except openai.APIConnectionError as e:
            raise _Retryable(f"cannot connect ({_short(e.__cause__ or e)})") from None
        try:
            return parse_choices(json.loads(b"".join(chunks).decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _Retryable(f"reply is not JSON: {_short(b''.join(chunks)[:200])!r}") from None
        except ValueError as e:
            raise _Retryable(f"reply is not a chat completion ({e})") from None

    def request(self, args, extra_body=None, until=None):
        """One logical request with bounded retries; returns the reply's choices (see parse_choices). until: stream
        the reply and stop reading once until(logprob tokens so far) is true (one choice)."""
        last = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.counters["retries"] += 1
                wait = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                if last.wait is not None:
                    if last.wait > MAX_RETRY_AFTER:
                        raise LLMError(f"LLM server {self.url} asks to wait {last.wait:.0f} s before retrying ({last})")
                    wait = last.wait
                with interrupt.waiting():
                    self._sleep(wait)
            start = time.monotonic()
            try:
                with interrupt.waiting():
                    return self._post_once(args, extra_body, until)
            except _Retryable as e:
                last = e
            finally:
                elapsed = time.monotonic() - start
                self.counters["requests"] += 1
                self.counters["request_seconds"] += elapsed
                self.counters["request_max_s"] = max(self.counters["request_max_s"], elapsed)
        tries = self.retries + 1
        raise LLMError(f"LLM server {self.url} failed after {tries} attempt{'s' if tries != 1 else ''}: {last}")

    def complete(self, messages, n=1, temperature=None, seed=None, grammar=None, max_tokens=None):
        """n answers to one conversation: at most answers_per_request a request (all n when 0), topped up with
        further requests (seed+1, seed+2, ...) when the server returns fewer or ignores `n`."""
        n = int(n)
        if n < 1:
            return []
        max_tokens = self.max_tokens if max_tokens is None else max_tokens
        per = self.answers_per_request
        size = min(n, per or n) if self.supports_n else 1
        try:
            first = self.request(*self.build_body(messages, size, temperature, seed, grammar, max_tokens))
        except LLMError as e:
            if size == 1 or not _refuses_n(e):
                raise
            # a server that limits `n` (llama-server: at most its slots) is asked one answer a request from now on
            self.supports_n, size = False, 1
            first = self.request(*self.build_body(messages, 1, temperature, seed, grammar, max_tokens))
        answers = [c["text"] for c in first][:n]
        failures, k = 0, 0
        while len(answers) < n:
            k += 1
            self.counters["topups"] += 1
            more = self.request(*self.build_body(messages, min(size, n - len(answers)) if per else 1, temperature,
                                                 None if seed is None else seed + k, grammar, max_tokens))
            if not more:
                failures += 1
                if failures >= self.max_topup_failures:
                    raise LLMError(f"LLM server {self.url} returned no choices ({len(answers)} of {n} answers)")
                continue
            answers.extend(c["text"] for c in more[: n - len(answers)])
        return answers

    def choose(self, messages, grammar, top_logprobs=20, max_tokens=64, seed=None, until=None):
        """One greedy answer under `grammar` with the tokens' log-probabilities: {"text", "logprobs"} where logprobs
        is [{"token", "logprob", "top_logprobs": [{"token", "logprob"}, ...]}, ...] (None if the server has none).
        until(logprobs so far) -> bool: the answer is streamed and the request ended as soon as it is true (the
        server stops generating when the client hangs up), so the tokens nobody needs are never generated; a
        server that streams no log-probabilities is asked again without streaming, and from then on always."""
        args, body = self.build_body(messages, 1, 0.0, seed, grammar, max_tokens)
        args.update(logprobs=True, top_logprobs=int(top_logprobs))
        if until is not None and self.streams_logprobs is not False:
            choices = self.request(dict(args, stream=True), body, until)
            if choices and choices[0]["logprobs"]:
                self.streams_logprobs = True
                return choices[0]
            if self.streams_logprobs is None:
                self.streams_logprobs = False
        choices = self.request(args, body)
        if not choices:
            raise LLMError(f"LLM server {self.url} returned no choices")
        return choices[0]

    def list_models(self):
        """Model ids of the server's /models (one attempt, at most MODELS_TIMEOUT s); LLMError when it has none."""
        import openai
        limit = min(self.timeout, MODELS_TIMEOUT)

        def fetch(sdk):
            return [m.id for m in sdk.models.list(timeout=limit, extra_headers=self._headers())
                    if isinstance(m.id, str)]
        try:
            with interrupt.waiting():
                return self._within_deadline(fetch, limit)
        except _Retryable as e:
            raise LLMError(f"LLM server {self.url}: no model list ({e})") from None
        except openai.APIError as e:
            raise LLMError(f"LLM server {self.url}: no model list ({_short(e)})") from None
        except (ValueError, TypeError, AttributeError) as e:
            raise LLMError(f"LLM server {self.url}: the model list is malformed ({e})") from None

    def ping(self):
        """One tiny request; returns the answer texts (raises LLMError naming the URL when it fails)."""
        choices = self.request(*self.build_body([{"role": "user", "content": "Say OK."}], 1, 0.0, None, None, 1))
        return [c["text"] for c in choices]


