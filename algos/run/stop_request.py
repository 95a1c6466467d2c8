"""Stop requests while a run trains: SIGINT/SIGTERM (the first finishes the iteration and checkpoints, a second
stops at once), and any other stop condition polled each iteration (a sweep's stop file)."""
import signal
import threading
import time

from utils import interrupt
from utils.errors import Interrupted


class StopRequest:
    """SIGINT/SIGTERM while training: the first asks the loop to finish the iteration, checkpoint and stop; a second
    one stops at once (Interrupted, a KeyboardInterrupt). The same signal again within ECHO_SECONDS is the first
    one's echo, not a second request: `timeout -s INT` and `kill 0` deliver one signal to the process and again to
    its process group. `also`: another stop condition polled each iteration (e.g. a sweep's stop file); it returns
    the reason or None. Handlers are restored on exit."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    ECHO_SECONDS = 0.1

    def __init__(self, also=None, on_first=None, clock=time.monotonic):
        self.requested, self.signum, self.also, self.on_first, self._old = None, None, also, on_first, {}
        self.clock, self._first_at = clock, None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        now = self.clock()
        if self.signum is not None:
            if signum == self.signum and now - self._first_at < self.ECHO_SECONDS:
                return
            raise Interrupted(signum)
        if self.requested is not None:  # asked by `also` (a stop file): a signal now means at once
            raise Interrupted(signum)
        self.requested, self.signum, self._first_at = signal.Signals(signum).name, int(signum), now
        if self.on_first is not None:
            self.on_first()
        interrupt.ask_stop(signum)  # an LLM wait in progress ends now (WaitInterrupted)

    def poll(self):
        if self.requested is None and self.also is not None:
            self.requested = self.also()
        return self.requested

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}
        interrupt.clear()
        return False
