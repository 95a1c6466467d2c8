"""What a chat-completion reply holds: its choices, within size limits.

    parse_choices(payload) -> [{"text", "logprobs"}, ...]   ValueError if the payload is not a chat completion
    MAX_REPLY_BYTES        a reply body over this is refused (the client stops reading it)
    MAX_ANSWER_CHARS       an answer over this counts as no answer ("")
    read_stream(response, until, url) -> [{"text", "logprobs"}]   a streamed reply, read until `until` says enough
"""
import json

from utils.errors import LLMError

MAX_REPLY_BYTES = 16 * 1024 * 1024
MAX_ANSWER_CHARS = 64 * 1024


def short(text, limit=200):
    """text on one line, cut to `limit` characters (for error messages)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def parse_choices(payload):
    """[{"text", "logprobs"}] of a chat-completion object; raises ValueError if it is not one. Answers longer than
    MAX_ANSWER_CHARS, or without text content, become ""."""
    if not isinstance(payload, dict):
        raise ValueError("reply is not a JSON object")
    if "error" in payload and "choices" not in payload:
        err = payload["error"]
        raise ValueError(f"server error: {short(err.get('message') if isinstance(err, dict) else err)}")
    choices = payload.get("choices")
    if not isinstance(choices, list):
        raise ValueError("reply has no 'choices' list")
    out = []
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
        text = content if isinstance(content, str) and len(content) <= MAX_ANSWER_CHARS else ""
        logprobs = choice.get("logprobs")
        out.append({"text": text, "logprobs": logprobs.get("content") if isinstance(logprobs, dict) else None})
    return out


def read_stream(response, until, url):
    """The one choice of a streamed chat completion (server-sent events), read until until(logprobs) is true or
    the stream ends: [{"text", "logprobs"}] as parse_choices gives it; ValueError for a malformed event."""
    text, tokens, size = [], [], 0
    for line in response.iter_lines():
        size += len(line)
        if size > MAX_REPLY_BYTES:
            raise LLMError(f"LLM server {url} sent a reply over {MAX_REPLY_BYTES // 2**20} MiB")
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        try:
            event = json.loads(data)
        except json.JSONDecodeError:
            raise ValueError(f"streamed reply is not JSON: {short(data[:200])!r}") from None
        if isinstance(event, dict) and "error" in event and "choices" not in event:
            parse_choices(event)  # raises ValueError naming the server's error
        for choice in (event.get("choices") or []) if isinstance(event, dict) else []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                text.append(delta["content"])
            logprobs = choice.get("logprobs")
            if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
                tokens.extend(t for t in logprobs["content"] if isinstance(t, dict))
        if tokens and until(tokens):
            break
    return [{"text": "".join(text), "logprobs": tokens or None}]
