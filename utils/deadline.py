"""A total time limit on a blocking call, whatever it blocks on.

    call_within(fn, seconds, abandon)   fn()'s result (or its exception); when `seconds` pass first, abandon() is
                                        called and DeadlineExceeded raised

Socket timeouts limit each read, not the whole exchange: a server that sends its headers, or its body, one byte a
second never trips them. Here fn runs in a daemon thread and the caller waits at most `seconds` for it; abandon()
(e.g. closing the HTTP client) makes the abandoned call end soon after, and its result is ignored. abandon() also
runs when the wait is cut short by an exception (a stop request raised by a signal handler), so nothing is left
talking to the server.
"""
import threading


class DeadlineExceeded(Exception):
    """The call did not finish within its time limit (it was abandoned)."""


def call_within(fn, seconds, abandon=None):
    done = threading.Event()
    outcome = {}

    def run():
        try:
            outcome["value"] = fn()
        except BaseException as e:  # handed to the caller, who decides what it means
            outcome["error"] = e
        finally:
            done.set()

    threading.Thread(target=run, name="call-within", daemon=True).start()
    finished = False
    try:
        finished = done.wait(max(0.0, float(seconds)))
    finally:
        if not finished and abandon is not None:
            abandon()
    if not finished:
        raise DeadlineExceeded(f"no result within {float(seconds):g} s")
    if "error" in outcome:
        raise outcome.pop("error")
    return outcome["value"]
