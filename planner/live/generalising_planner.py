"""A live LLM planner that asks the LLM only where its model of the LLM's answers is unsure (--llm_generalise C).

    planner = GeneralisingPlanner(inner, min_confidence=0.8)
    planner.plans(text)   # the LLM's answer if the text was answered (this run, or the plan cache); else the
                          # model's guess (planner/live/answer_model.py) where its confidence is at least C, the
                          # LLM not asked; else the inner planner's way: asked now (blocking) or queued (None)

Every answer the inner planner gives is learned. Honest counting: `guessed_lookups` (teacher steps taught by a
guess) and `guessed_texts` (distinct texts taught by a guess, never asked of the LLM) next to the inner planner's
counters; a text guessed once and answered later (asked by another run into the same plan cache) is taught by its
answer from then on.
"""
from planner.base import Planner
from planner.live.answer_model import AnswerModel


class GeneralisingPlanner(Planner):
    def __init__(self, inner, min_confidence):
        self.inner = inner
        self.min_confidence = float(min_confidence)
        self.answers = AnswerModel()
        self._guesses = {}   # text -> (model version, guess or None)
        self._guessed = set()
        self.counts = {"guessed_lookups": 0, "unsure_lookups": 0}

    @property
    def model(self):
        return self.inner.model

    def _guess(self, text):
        version, guess = self._guesses.get(text, (-1, None))
        if version != self.answers.version:
            guess = self.answers.guess(text)
            self._guesses[text] = (self.answers.version, guess)
        return guess

    def plans(self, text):
        found = self.inner.known(text)
        if found is None:
            guess = self._guess(text)
            if guess is not None and guess[1] >= self.min_confidence:
                self.counts["guessed_lookups"] += 1
                self._guessed.add(text)
                return guess[0]
            self.counts["unsure_lookups"] += 1
            found = self.inner.fetch(text)
        if found is not None:
            self.answers.learn(text, found)
        return found

    def stats(self):
        out = dict(self.inner.stats())
        out.update(self.counts)
        out["guessed_texts"] = len(self._guessed)
        return out

    def close(self):
        self.inner.close()
