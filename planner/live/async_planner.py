"""A live LLM teacher that never makes the environments wait (--llm_wait never).

    planner = AsyncPlanner(make_llm_planner, parallel=2)
    planner.plans(text)   # the plan distribution when the text is answered (this run's memory, or the plan cache);
                          # otherwise None at once, the text queued (once) for the next free asker
    planner.close()       # answers in flight land in the plan cache first (at most `grace` seconds)

`parallel` threads ask at the same time, each with its own planner (its own client and counters), so a server
with as many slots (llama.cpp's --parallel, vLLM, FastChat's workers) answers them together. An answer lands in
this planner's memory at the next lookup and, through the asker's plan cache, on disk for every later run; a
text being asked by another process (PlanCache claims) is waited for by the asker thread, never by the caller.
The teacher turns None into "no distribution" for that step: the sample is trained without the teacher term
(algos/learner/ppo.py masks it). An asker's failure (the server gone after its retries, a bad cache) is raised to the
caller at its next lookup, as the blocking planner would have raised it.
"""
import queue
import threading
import time

from planner.base import Planner
from planner.live.stats import merge_stats, with_means

STOP = object()


class AsyncPlanner(Planner):
    def __init__(self, make_planner, parallel=2, grace=10.0):
        self.front = make_planner()  # answers what is known, never asks
        self.grace = float(grace)
        self._askers = [make_planner() for _ in range(max(1, int(parallel)))]
        self._todo = queue.Queue()
        self._landed = queue.Queue()
        self._pending = {}           # text -> when it was queued
        self._error = None
        self.counts = {"submitted": 0, "landed": 0, "unanswered_lookups": 0, "answer_wait_seconds": 0.0,
                       "answer_wait_max_s": 0.0}
        self._threads = [threading.Thread(target=self._work, args=(a,), name=f"llm-asker-{i}", daemon=True)
                         for i, a in enumerate(self._askers)]
        for t in self._threads:
            t.start()

    @property
    def model(self):
        return self.front.model

    def _work(self, asker):
        while True:
            text = self._todo.get()
            if text is STOP:
                return
            try:
                result = asker.plans(text)
            except BaseException as e:  # handed to the caller at its next lookup
                result = e
            self._landed.put((text, result))

    def _drain(self):
        while True:
            try:
                text, result = self._landed.get_nowait()
            except queue.Empty:
                break
            queued = self._pending.pop(text, None)
            if isinstance(result, BaseException):
                self._error = self._error or result
                continue
            self.front.remember(text, result)
            self.counts["landed"] += 1
            if queued is not None:
                waited = time.monotonic() - queued
                self.counts["answer_wait_seconds"] += waited
                self.counts["answer_wait_max_s"] = max(self.counts["answer_wait_max_s"], waited)
        if self._error is not None:
            raise self._error

    def plans(self, text):
        self._drain()
        found = self.front.known(text)
        if found is not None:
            return found
        if text not in self._pending:
            self._pending[text] = time.monotonic()
            self._todo.put(text)
            self.counts["submitted"] += 1
        self.counts["unanswered_lookups"] += 1
        return None

    def stats(self):
        try:
            self._drain()
        except BaseException:  # noqa: BLE001  (raised at the next lookup; statistics never fail)
            pass
        out = merge_stats([self.front.stats()] + [a.stats() for a in self._askers])
        out["lookups"] = self.front.counts["lookups"]  # the teacher's lookups (an asker's own are its texts)
        out.update(self.counts)
        out["pending"] = len(self._pending)
        return with_means(out)

    def close(self):
        """Stop asking new texts; let the answers in flight land in the plan cache (at most `grace` seconds)."""
        while True:  # texts not started yet are dropped: a later run asks them again
            try:
                self._todo.get_nowait()
            except queue.Empty:
                break
        for _ in self._threads:
            self._todo.put(STOP)
        deadline = time.monotonic() + self.grace
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for planner in [self.front] + self._askers:
            planner.close()
