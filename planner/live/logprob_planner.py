"""The "uncertainty-aware" plan distribution from the model's own token probabilities (--llm_plans logprobs):
one request per observation text instead of n_ask samples.

The candidates are planner.live.grammar.candidate_plans(text, candidates). The model answers greedily under a grammar
that admits exactly `Action: {candidate}`, with the top log-probabilities of every token it wrote. Walking that
answer token by token, each alternative token at a position is credited to the candidates whose answer it begins
(the raw probabilities renormalised over the tokens some candidate allows, as the grammar would); a candidate that
leaves the answer's path keeps the probability of its branch (shared equally when several leave together). So one
greedy answer gives the whole distribution; where the server returns no log-probabilities, the answer itself gets
probability 1. The answer is streamed and cut off once it has decided (`decided`): the tokens after the last
branch point are never generated.
"""
import math
import time

from planner.live.grammar import candidate_plans, choice_grammar
from planner.live.llm_planner import LLMPlanner
from planner.live.plan_cache import sha256

PREFIX = "Action: {"


def begun(tokens):
    """The answer's tokens from its start: a server continuing a reply begun with PREFIX sends only the tokens
    after it (then PREFIX is put in front, as one sure token), others the whole answer."""
    text = "".join(t.get("token", "") for t in tokens if isinstance(t, dict))
    if text.startswith(PREFIX) or PREFIX.startswith(text):
        return tokens
    return [{"token": PREFIX, "logprob": 0.0, "top_logprobs": [{"token": PREFIX, "logprob": 0.0}]}] + list(tokens)


def decided(candidates, tokens):
    """True once the answer so far ([{"token", ...}]) leaves at most one candidate on its path: every later token is
    the grammar's (branch_probabilities reads no further), so it need not be generated."""
    text = "".join(t.get("token", "") for t in tokens)
    return sum(1 for c in candidates if f"{PREFIX}{c}}}".startswith(text) or text.startswith(f"{PREFIX}{c}}}")) <= 1


def branch_probabilities(candidates, tokens):
    """{candidate: probability} from the tokens of one answer: [(chosen token, {token: logprob})]."""
    targets = {c: f"{PREFIX}{c}}}" for c in candidates}
    alive, mass, text, out = list(candidates), 1.0, "", {c: 0.0 for c in candidates}
    for chosen, top in tokens:
        if len(alive) <= 1:
            break
        groups = {}
        for token, logprob in {**top, chosen: top.get(chosen, max(top.values(), default=0.0))}.items():
            after = text + token
            members = tuple(c for c in alive if targets[c].startswith(after) or after.startswith(targets[c]))
            if members:
                groups[members] = groups.get(members, 0.0) + math.exp(logprob)
        total = sum(groups.values())
        text += chosen
        kept = tuple(c for c in alive if targets[c].startswith(text) or text.startswith(targets[c]))
        if total <= 0 or not kept:
            break
        for members, p in groups.items():
            if members != kept:
                for c in members:
                    if c not in kept:
                        out[c] += mass * p / total / len(members)
        mass *= groups.get(kept, 0.0) / total
        alive = list(kept)
    for c in alive:
        out[c] += mass / len(alive)
    return out


def _tokens_of(logprobs):
    return [(t.get("token", ""), {a.get("token", ""): a.get("logprob", -math.inf) for a in t.get("top_logprobs") or []})
            for t in logprobs or [] if isinstance(t, dict)]


def greedy_answer(client, messages, plans, seed=None, max_tokens=64, prefill=None):
    """(choice, [(token, {token: logprob})], prefill) of the greedy answer under the plans' grammar, streamed and
    cut off once decided. The reply is begun for the model with PREFIX (an assistant message it continues: no
    grammar-forced token is generated before the first choice) unless prefill is False; a server that continues a
    final assistant message, as llama.cpp's does, starts its reply with PREFIX (prefill comes back True), one that
    does not is asked the whole answer (False: pass it again to skip the first try)."""
    if prefill is not False:
        choice = client.choose(messages + [{"role": "assistant", "content": PREFIX}], choice_grammar(plans, prefix=""),
                               seed=seed, max_tokens=max_tokens, until=lambda tokens: decided(plans, begun(tokens)))
        if choice["text"].startswith(PREFIX):
            return choice, _tokens_of(begun(choice["logprobs"])) if choice["logprobs"] else [], True
    choice = client.choose(messages, choice_grammar(plans), seed=seed, max_tokens=max_tokens,
                           until=lambda tokens: decided(plans, tokens))
    return choice, _tokens_of(choice["logprobs"]), False


class LogprobPlanner(LLMPlanner):
    """candidates: planner.live.grammar's setting, "afforded" or "all" (noted in the plan cache's sampling settings
    when not "afforded"). What is offered for a text (its cache key covers it) is its candidate plans."""

    mode = "logprobs"

    def __init__(self, *args, candidates="afforded", **kwargs):
        super().__init__(*args, **kwargs)
        candidate_plans("", candidates)  # a bad setting fails here
        self.candidates = candidates
        self.prefill = None   # whether the server continues a begun reply (None: not known yet)
        if candidates != "afforded":
            self.sampling["candidates"] = candidates

    def offered(self, text):
        return candidate_plans(text, self.candidates)

    def _answer(self, messages, plans):
        choice, tokens, self.prefill = greedy_answer(self.client, messages, plans, self.seed, self.max_tokens,
                                                     self.prefill)
        return choice, tokens

    def ask(self, text):
        start = time.monotonic()
        self.counts["queries"] += 1
        plans = candidate_plans(text, self.candidates)
        messages = [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": text}]
        if len(plans) == 1:
            probs = [1.0]
        else:
            choice, tokens = self._answer(messages, plans)
            if tokens:
                scored = branch_probabilities(plans, tokens)
                probs = [scored[p] for p in plans]
            else:  # a server without log-probabilities: the answer alone
                answer = choice["text"][len(PREFIX):-1] if choice["text"].startswith(PREFIX) else ""
                probs = [1.0 if p == answer else 0.0 for p in plans]
            self.counts["answers"] += 1
        self.counts["query_seconds"] += time.monotonic() - start
        return {"model": self.model, "system_sha256": sha256(self.system_prompt), "sampling": self.sampling,
                "text": text, "plans": plans, "probs": probs, "invalid": 0, "answers": 1}
