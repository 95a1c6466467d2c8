"""LLM server URLs: the API base and chat endpoint of a URL as users write it, and passwords kept out of messages.

    base_url("host:8000")                -> "http://host:8000/v1"   (…/v1, Zhipu's …/v4, or the endpoint itself)
    chat_completions_url(url)            -> base_url(url) + "/chat/completions"
    redact(url) / was_redacted(url)      a password in the URL shown as ***; whether a URL lost its password so
    is_loopback(url)                     whether the host is this machine (no proxy is used for it)
"""
import urllib.parse

from utils.errors import UserError

CHAT_PATH = "/chat/completions"
HIDDEN = "***"
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def _split(url):
    url = str(url).strip()
    if not url:
        raise UserError("empty LLM URL")
    if "://" not in url:
        url = "http://" + url
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UserError(f"LLM URL must look like http://host:port/v1, got {redact(url)!r}")
    return parsed


def base_url(url):
    """The API base (…/v1, or Zhipu's …/v4) for a URL given as `host:port`, `…/v1` or the endpoint itself."""
    parsed = _split(url)
    path = parsed.path.rstrip("/")
    if path.endswith(CHAT_PATH):
        path = path[: -len(CHAT_PATH)]
    elif not (path.endswith("/v1") or path.endswith("/v4")):
        path += "/v1"
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, parsed.query, ""))


def chat_completions_url(url):
    return base_url(url) + CHAT_PATH


def redact(url):
    """The URL with any password replaced by ***, for messages and files."""
    parsed = urllib.parse.urlsplit(str(url))
    if parsed.password is None:
        return str(url)
    host = parsed.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit((parsed.scheme, f"{parsed.username}:{HIDDEN}@{host}", parsed.path, parsed.query,
                                    parsed.fragment))


def was_redacted(url):
    """Whether url is the output of redact() for a URL with a password (the password is then lost)."""
    return urllib.parse.urlsplit(str(url or "")).password == HIDDEN


def is_loopback(url):
    host = (urllib.parse.urlsplit(str(url)).hostname or "").lower()
    return host in _LOOPBACK or host.startswith("127.")
