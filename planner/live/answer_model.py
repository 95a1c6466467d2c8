"""A small model of the LLM's answers, learned as they land: a plan distribution for a text the LLM was never asked,
with a confidence, so that the LLM is asked only where the model is unsure (an LLM cascade: FrugalGPT, Chen et al.
2023; nearest neighbours over the texts answered so far).

    model = AnswerModel()
    model.learn(text, plans)      # an answered text: [(plan, probability), ...]
    model.guess(text)             # (plans, confidence) or None: no answered text to go by

A text "Mission: M. Agent sees <a>, <b> (note), holds <c>." (the mission optional, as MiniWorld's texts have
none) is compared with the answered texts of the same mission that hold the same object: their similarity is the
Jaccard index of the objects seen (with their notes). The most similar answered texts (all that tie) lend their plans,
averaged, keeping only the plans whose every object the new text shows (a plan about an object not seen here cannot
be followed); confidence = similarity x the probability kept. 1.0: the same objects seen, in another order.
Texts of another form are never guessed.
"""
import re
from collections import defaultdict

TEXT = re.compile(r"(?:Mission: (?P<mission>.*?)\. )?Agent sees (?P<seen>.*), holds (?P<held><[^>]*>)\.$")
OBJECT = re.compile(r"<[^>]*>(?: \([^)]*\))?")
NAME = re.compile(r"<[^>]*>")


def parse(text):
    """(mission, frozenset of the objects seen with their notes, names that can be acted on, held) or None."""
    m = TEXT.match(text)
    if m is None:
        return None
    seen = frozenset(OBJECT.findall(m["seen"])) - {"<nothing>"}
    names = {NAME.match(s).group(0) for s in seen} | {m["held"]}
    return m["mission"], seen, frozenset(names), m["held"]


class AnswerModel:
    def __init__(self):
        self._answered = defaultdict(dict)  # (mission, held) -> {text: (seen, plans)}
        self._met = set()                   # every text learn() was given (the teacher's hot path: parsed once)
        self.version = 0                    # how many texts were learned (a guess made earlier may be stale)

    def __len__(self):
        return sum(len(texts) for texts in self._answered.values())

    def learn(self, text, plans):
        if text in self._met:
            return
        self._met.add(text)
        parsed = parse(text)
        if parsed is not None:
            mission, seen, _, held = parsed
            self._answered[(mission, held)][text] = (seen, tuple(plans))
            self.version += 1

    def guess(self, text):
        parsed = parse(text)
        if parsed is None:
            return None
        mission, seen, names, held = parsed
        best, lenders = -1.0, []
        for other, (seen2, plans) in self._answered.get((mission, held), {}).items():
            if other == text:
                return list(plans), 1.0
            union = len(seen | seen2)
            similarity = len(seen & seen2) / union if union else 1.0
            if similarity > best:
                best, lenders = similarity, [plans]
            elif similarity == best:
                lenders.append(plans)
        if best <= 0:
            return None
        mixed, total, kept = {}, 0.0, 0.0
        for plans in lenders:
            for plan, p in plans:
                total += p
                if set(NAME.findall(plan)) <= names:
                    mixed[plan] = mixed.get(plan, 0.0) + p
                    kept += p
        if kept <= 0:
            return None
        return [(plan, p / kept) for plan, p in mixed.items()], best * kept / total


__all__ = ["AnswerModel", "parse"]
