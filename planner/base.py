"""What the teacher needs from a planner: a plan distribution for an observation text.

Recorded answers and live LLMs look the same to the teacher:
    planner.plans(text) -> [(plan_text, prob), ...]   (probabilities sum to 1)
`stats()` returns counters for the logs (e.g. texts missing from a table, LLM queries).
"""
from collections import Counter


class Planner:
    def plans(self, text):
        raise NotImplementedError

    def stats(self):
        return {}

    def close(self):
        pass


class RecordedPlanner(Planner):
    """Answers from a recorded table; a text missing from it falls back to exploring and is counted."""

    FALLBACK = [("explore", 1.0)]

    def __init__(self, table):
        self.table = table
        self.missing = Counter()

    def plans(self, text):
        found = self.table.get(text)
        if found is None:
            self.missing[text] += 1
            return self.FALLBACK
        return found

    def stats(self):
        return {"missing_texts": sum(self.missing.values()), "missing_distinct": len(self.missing)}


__all__ = ["Planner", "RecordedPlanner"]
