"""Turning raw LLM answers into a plan distribution.

An answer must contain `Action: {...}` (the official format); the frequencies of the distinct plan strings
among the valid answers form the distribution. LLM text is only ever matched, never evaluated.
"""
import re
from collections import Counter

ACTION_RE = re.compile(r"Action[s]*:\s*\{([\w\s<>,]*)\}", re.IGNORECASE)


def extract_plan(answer):
    """The plan inside `Action: {...}`, normalised (stripped, single spaces), or None if there is none."""
    if not isinstance(answer, str):
        return None
    match = ACTION_RE.search(answer)
    if match is None:
        return None
    plan = " ".join(match.group(1).split())
    plan = ", ".join(part.strip() for part in plan.split(",") if part.strip())
    return plan or None


def plan_distribution(plans):
    """[(plan, prob)] from a list of plan strings, most frequent first (ties: first seen)."""
    counts = Counter(plans)
    total = sum(counts.values())
    if total == 0:
        return []
    return [(plan, n / total) for plan, n in counts.most_common()]
