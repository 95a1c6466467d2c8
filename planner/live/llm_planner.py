"""The live LLM teacher: plan distributions from a chat-completion server.

Per new observation text: ask `n_ask` answers (system = the task prompt, user = the text), extract the plan
inside `Action: {...}` of each, re-ask the unparseable ones at most `max_reasks` times, and use the frequencies
of the valid plans as the distribution. A text with no valid answer at all falls back to [("explore", 1.0)]
(counted in `fallbacks`). Results are kept in memory for the run and, with a PlanCache, on disk across runs and
worker processes (each entry with the seconds its asking took). LLM text is only matched with a regular
expression, never evaluated.
"""
import math
import time

from planner.answers import extract_plan, plan_distribution
from planner.base import FALLBACK, Planner
from planner.live.plan_cache import cache_key, sha256
from planner.live.stats import with_means
from utils.errors import UserError


class LLMPlanner(Planner):
    """grammar: None, or a function text -> GBNF (planner.live.grammar.observation_grammar) sent with every request."""

    mode = "sample"

    def __init__(self, client, system_prompt, n_ask=10, temperature=1.0, seed=None, grammar=None, cache=None,
                 max_reasks=2, max_tokens=None):
        if n_ask < 1:
            raise ValueError("n_ask must be >= 1")
        self.client = client
        self.system_prompt = system_prompt
        self.n_ask = int(n_ask)
        self.temperature = temperature
        self.seed = seed
        self.grammar = grammar
        self.cache = cache
        self.max_reasks = int(max_reasks)
        self.max_tokens = max_tokens
        self.sampling = {"mode": self.mode, "n_ask": self.n_ask, "temperature": temperature, "seed": seed,
                         "grammar": getattr(grammar, "__name__", None) if grammar else None,
                         "max_tokens": max_tokens if max_tokens is not None else getattr(client, "max_tokens", None),
                         "max_reasks": self.max_reasks}
        self._memory = {}
        self.counts = {"lookups": 0, "texts": 0, "queries": 0, "cache_hits": 0, "answers": 0, "reasked_answers": 0,
                       "invalid_answers": 0, "fallbacks": 0, "query_seconds": 0.0}

    @property
    def model(self):
        return self.client.model

    def offered(self, text):
        """What the model may answer to `text` under this planner's rules (the grammar sent), or None for free
        answers; part of the cache key, so answers cached before a rule changed what is offered are asked again."""
        return self.grammar(text) if self.grammar else None

    def key(self, text):
        offered = self.offered(text)
        sampling = self.sampling if offered is None else {**self.sampling, "offered": offered}
        return cache_key(self.model, self.system_prompt, sampling, text)

    # ---- asking ----
    def _complete(self, text, n, round_):
        seed = None if self.seed is None else self.seed + 1000 * round_
        messages = [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": text}]
        return self.client.complete(messages, n=n, temperature=self.temperature, seed=seed,
                                    grammar=self.grammar(text) if self.grammar else None, max_tokens=self.max_tokens)

    def ask(self, text):
        """Query the LLM for one text: a cache entry with the valid plans (repeats kept) and counts."""
        start = time.monotonic()
        self.counts["queries"] += 1
        answers = self._complete(text, self.n_ask, 0)
        received = len(answers)
        plans = [p for p in map(extract_plan, answers) if p]
        round_ = 0
        while len(plans) < self.n_ask and round_ < self.max_reasks:
            round_ += 1
            missing = self.n_ask - len(plans)
            self.counts["reasked_answers"] += missing
            more = self._complete(text, missing, round_)
            received += len(more)
            plans.extend(p for p in map(extract_plan, more) if p)
        self.counts["answers"] += received
        self.counts["query_seconds"] += time.monotonic() - start
        return {"model": self.model, "system_sha256": sha256(self.system_prompt), "sampling": self.sampling,
                "text": text, "plans": plans, "invalid": self.n_ask - len(plans), "answers": received}

    def _use(self, entry, fresh):
        if fresh:
            self.counts["invalid_answers"] += int(entry.get("invalid", 0))
        dist = entry_distribution(entry, self.cache.path if self.cache is not None else "(in memory)")
        if not dist:
            self.counts["fallbacks"] += 1
            return list(FALLBACK)
        return dist

    def _timed_ask(self, text):
        """ask(text), the entry noting the seconds it took (for benchmarks of a cache: bench/llm.py)."""
        start = time.monotonic()
        entry = self.ask(text)
        entry["seconds"] = round(time.monotonic() - start, 3)
        return entry

    def known(self, text):
        """The plan distribution of `text` if it is answered already (this run's memory, or the plan cache), else
        None; never asks the LLM (the non-blocking teacher's lookup: planner/live/async_planner.py)."""
        self.counts["lookups"] += 1
        found = self._memory.get(text)
        if found is None and self.cache is not None:
            entry = self.cache.get(self.key(text))
            if entry is not None:
                self.counts["texts"] += 1
                self.counts["cache_hits"] += 1
                found = self._memory[text] = self._use(entry, fresh=False)
        return found

    def remember(self, text, plans):
        """Keep an answer that was asked elsewhere (an asker thread) for this run's later lookups."""
        self._memory[text] = plans

    def plans(self, text):
        self.counts["lookups"] += 1
        found = self._memory.get(text)
        return found if found is not None else self._ask_cached(text)

    def fetch(self, text):
        """A text known() has no answer for: asked now (through the plan cache)."""
        found = self._memory.get(text)
        return found if found is not None else self._ask_cached(text)

    def _ask_cached(self, text):
        self.counts["texts"] += 1
        hit = False
        if self.cache is not None:
            entry, hit = self.cache.get_or_compute(self.key(text), lambda: self._timed_ask(text))
            if hit:
                self.counts["cache_hits"] += 1
        else:
            entry = self._timed_ask(text)
        found = self._memory[text] = self._use(entry, fresh=not hit)
        return found

    # ---- statistics ----
    def stats(self):
        out = dict(self.counts)
        client = getattr(self.client, "counters", {})
        for k in ("requests", "retries", "topups", "request_seconds", "request_max_s"):
            out[k] = client.get(k, 0)
        return with_means(out)


def entry_distribution(entry, where):
    """The plan distribution of a cache entry: the frequencies of its plans, or its probabilities when it has them
    (--llm_plans logprobs). A malformed entry (a hand-edited or foreign cache) is a one-line UserError."""
    entry = entry if isinstance(entry, dict) else {}
    plans, probs = entry.get("plans"), entry.get("probs")
    if not isinstance(plans, list) or not all(isinstance(p, str) for p in plans):
        raise UserError(f"plan cache {where}: an entry's 'plans' must be a list of strings, got {str(plans)[:60]!r}")
    if probs is None:
        return plan_distribution([p for p in plans if p])
    if (not isinstance(probs, list) or len(probs) != len(plans)
            or not all(isinstance(q, (int, float)) and not isinstance(q, bool) and math.isfinite(q) and q >= 0
                       for q in probs) or not math.isfinite(sum(probs))):
        raise UserError(f"plan cache {where}: an entry's 'probs' must be finite numbers >= 0, one per plan")
    total = sum(probs)
    return [(p, q / total) for p, q in zip(plans, probs) if p and q > 0] if total > 0 else []
