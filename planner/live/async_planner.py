"""A live LLM teacher that never makes the environments wait (--llm_wait never).

    planner = AsyncPlanner(make_llm_planner, parallel=2)
    planner.plans(text)   # the plan distribution when the text is answered (this run's memory, or the plan cache);
                          # otherwise None at once, the text queued (or its visits counted) for an asker
    planner.close()       # answers in flight land in the plan cache first (at most `grace` seconds)

Texts wait in a priority queue by visit count: every lookup of a text not answered yet counts one more visit of it,
and a free asker takes the most visited waiting text next (the earliest queued among equals: first come, first
served when every text is visited as often). A task with thousands of texts thus has its most visited ones, which
make most of the samples, answered first (issue 63; docs/many_texts.md measures how the visits spread).

`parallel` threads ask at the same time, each with its own planner (its own client and counters), so a server
with as many slots (llama.cpp's --parallel, vLLM, FastChat's workers) answers them together. An answer lands in
this planner's memory at the next lookup and, through the asker's plan cache, on disk for every later run; a
text being asked by another process (PlanCache claims) is waited for by the asker thread, never by the caller.
The teacher turns None into "no distribution" for that step: the sample is trained without the teacher term
(algos/learner/ppo.py masks it). An asker's failure (the server gone after its retries, a bad cache) is raised to the
caller at its next lookup, as the blocking planner would have raised it.
"""
import heapq
import itertools
import queue
import threading
import time

from planner.base import Planner
from planner.live.stats import merge_stats, with_means



class VisitQueue:
    """The texts waiting for an asker, most visited first (the earliest queued among equals). visit(text) queues a
    new text or counts one more visit of a waiting one; get() blocks until a text waits (and hands it over: it
    waits no longer, later visits of it are not counted) or the queue is closed (None). A lazy max-heap of
    (-visits, order, text): an entry whose visits are no longer the text's is skipped, and the heap is rebuilt from
    the waiting texts when stale entries outnumber them."""

    def __init__(self):
        self._cond = threading.Condition()
        self._heap = []
        self._waiting = {}     # text -> [visits, order of its first visit]
        self._taken = set()    # handed to an asker: not queued again
        self._order = itertools.count()
        self._closed = False

    def visit(self, text):
        with self._cond:
            if self._closed or text in self._taken:
                return
            entry = self._waiting.get(text)
            if entry is None:
                entry = self._waiting[text] = [0, next(self._order)]
            entry[0] += 1
            heapq.heappush(self._heap, (-entry[0], entry[1], text))
            if len(self._heap) > 2 * len(self._waiting) + 64:
                self._heap = [(-v, order, t) for t, (v, order) in self._waiting.items()]
                heapq.heapify(self._heap)
            self._cond.notify()

    def get(self):
        with self._cond:
            while True:
                while self._heap:
                    visits, _, text = heapq.heappop(self._heap)
                    entry = self._waiting.get(text)
                    if entry is not None and entry[0] == -visits:
                        del self._waiting[text]
                        self._taken.add(text)
                        return text
                if self._closed:
                    return None
                self._cond.wait()

    def visits(self, text):
        """How often a waiting text was looked up so far (0 when it is not waiting)."""
        with self._cond:
            entry = self._waiting.get(text)
            return entry[0] if entry is not None else 0

    def __len__(self):
        with self._cond:
            return len(self._waiting)

    def close(self):
        """Drop the waiting texts; every get() returns None from now on."""
        with self._cond:
            self._closed = True
            self._waiting.clear()
            self._heap.clear()
            self._cond.notify_all()


class AsyncPlanner(Planner):
    def __init__(self, make_planner, parallel=2, grace=10.0):
        self.front = make_planner()  # answers what is known, never asks
        self.grace = float(grace)
        self._askers = [make_planner() for _ in range(max(1, int(parallel)))]
        self._todo = VisitQueue()
        self._landed = queue.Queue()
        self._pending = {}           # text -> when it was queued (until its answer lands)
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
            if text is None:  # closed
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

    def known(self, text):
        """The answer of `text` if it has landed (or is in the plan cache), else None; queues nothing."""
        self._drain()
        return self.front.known(text)

    def plans(self, text):  # known(text), inlined: the teacher's hot path
        self._drain()
        found = self.front.known(text)
        return found if found is not None else self.fetch(text)

    def fetch(self, text):
        """A text known() has no answer for: queued for an asker (or one more visit counted); None at once."""
        if text not in self._pending:
            self._pending[text] = time.monotonic()
            self.counts["submitted"] += 1
        self._todo.visit(text)  # queued at its first visit; one more visit while it waits (none once being asked)
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
        self._todo.close()  # texts not started yet are dropped: a later run asks them again
        deadline = time.monotonic() + self.grace
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for planner in [self.front] + self._askers:
            planner.close()
