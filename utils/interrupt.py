"""Stop requests that cut slow waits short (an LLM reply, a retry's backoff), so that Ctrl-C is honoured at once.

Code that may block wraps the wait in `with waiting():`. A signal handler that wants the program to stop calls
`ask_stop(signum)`: a wait in progress then ends with WaitInterrupted (and so does any wait that starts later);
code that is not waiting goes on undisturbed (training then finishes its iteration). One flag per process.
Only the main thread's waits are cut short (signal handlers run there); a wait in another thread (the
non-blocking teacher's requests) finishes, but none starts in any thread after a stop was asked.
"""
import contextlib
import threading

from utils.errors import Interrupted

_state = {"waiting": 0, "stop": None}


class WaitInterrupted(Interrupted):
    """A stop was asked while the program waited on something slow; the wait was abandoned."""


def ask_stop(signum):
    """Remember a stop request (from a signal handler); raises WaitInterrupted if a wait is in progress."""
    _state["stop"] = int(signum)
    if _state["waiting"]:
        raise WaitInterrupted(signum)


def clear():
    _state["stop"] = None


@contextlib.contextmanager
def waiting():
    if _state["stop"] is not None:
        raise WaitInterrupted(_state["stop"])
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state["waiting"] += 1
    try:
        yield
    finally:
        _state["waiting"] -= 1
