"""The answer model (planner/live/answer_model.py) replayed on a plan cache's answers in the order they were asked,
as a run with --llm_generalise C would have met them: a text the model guesses with confidence >= C is not asked
(its true answer stays unknown to the model), every other text is asked and learned. Per threshold: the texts
asked, the texts guessed, and how the guesses compare with the LLM's own answers (the same most likely plan; the
total variation distance between the plan distributions). `python bench/answer_model.py` prints it."""
from dataclasses import dataclass

from planner.live.answer_model import AnswerModel
from planner.live.llm_planner import entry_distribution


@dataclass
class Replay:
    threshold: float
    texts: int          # texts in the cache (of the answer model's form)
    asked: int          # texts the LLM would have been asked
    guessed: int        # texts taught by a guess instead
    same_plan: float    # share of the guesses whose most likely plan is the LLM's
    mean_tv: float      # mean total variation distance of the guesses from the LLM's answers


def replay(answers, threshold):
    """answers: [(text, [(plan, p), ...]), ...] in the order they were asked."""
    model = AnswerModel()
    asked = guessed = same = 0
    tv = 0.0
    for text, truth in answers:
        guess = model.guess(text)
        if guess is not None and guess[1] >= threshold:
            guessed += 1
            g, t = dict(guess[0]), dict(truth)
            same += int(max(g, key=g.get) == max(t, key=t.get))
            tv += 0.5 * sum(abs(g.get(k, 0.0) - t.get(k, 0.0)) for k in set(g) | set(t))
        else:
            asked += 1
            model.learn(text, truth)
    return Replay(threshold, len(answers), asked, guessed, same / guessed if guessed else float("nan"),
                  tv / guessed if guessed else float("nan"))


def cache_answers(entries, where="the plan cache"):
    """A plan cache's entries (planner.live.plan_cache.PlanCache.entries()) as replay's answers, oldest first."""
    rows = sorted((e for e in entries.values() if isinstance(e, dict) and isinstance(e.get("text"), str)),
                  key=lambda e: str(e.get("created", "")))
    out = [(e["text"], entry_distribution(e, where)) for e in rows]
    return [(text, plans) for text, plans in out if plans]
