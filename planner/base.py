"""What the teacher needs from a planner: a plan distribution for an observation text.

Recorded answers and live LLMs look the same to the teacher:
    planner.plans(text) -> [(plan_text, prob), ...]   (probabilities sum to 1)
`stats()` returns counters for the logs (e.g. texts missing from a table, LLM queries).
"""
from collections import Counter

FALLBACK = [("explore", 1.0)]  # the plan distribution of a text with no answer: explore


class Planner:
    def plans(self, text):
        raise NotImplementedError

    def stats(self):
        return {}

    def close(self):
        pass


class NoPlanner(Planner):
    """The planner of a run without a teacher (plain PPO: teacher coefficient 0): no table, no server. The teacher
    is never asked in such a run; asking it is a bug, not a fallback."""

    def plans(self, text):
        raise RuntimeError("this run has no teacher (teacher coefficient 0), yet its planner was asked")


class RecordedPlanner(Planner):
    """Answers from a recorded table; a text missing from it falls back to exploring and is counted."""

    def __init__(self, table):
        self.table = table
        self.missing = Counter()

    def plans(self, text):
        found = self.table.get(text)
        if found is None:
            self.missing[text] += 1
            return FALLBACK
        return found

    def stats(self):
        return {"missing_texts": sum(self.missing.values()), "missing_distinct": len(self.missing)}


__all__ = ["FALLBACK", "NoPlanner", "Planner", "RecordedPlanner"]
