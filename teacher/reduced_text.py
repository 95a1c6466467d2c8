"""Reduced observation texts: what a plan needs, the rest left out (the "relevant" colours of a naming rule;
docs/many_texts.md, issue 63).

A full MiniGrid text names every object seen this episode with its colour and state, in the order they appeared,
so a task of many rooms shows thousands of texts and a live LLM asked once per text teaches almost none of them.
The reduced text keeps what the choice of a plan depends on, by MiniGrid's own rules (a key opens the locked door
of its colour, a box may hold a key, an object next to a door blocks it, open doors are walked through):
- colours only where they tell objects apart for the plan: the mission's colours (on any object but the goal),
  and the colours of keys and locked doors once both a key (seen or held) and a locked door are seen (which key
  opens which door); shown anonymised (color1, color2, ...: the mission's first);
- every door except an open one of no mission colour; keys, boxes and the goal; balls only where the mission
  names balls, or where one blocks a door (kinds the rule does not list never);
- objects of one name (e.g. two closed doors of no relevant colour): the nearest, as "<closed door>";
- within a kind, sorted by name as shown (not by when they appeared);
- the carried object as any other (its colour where relevant).
Plans name objects as the text does; `Description.objects` maps each name to its nearest object, and
`colour_map` turns color1, ... back into real colours, so the teacher's options act on them unchanged.

This is a state abstraction (Li, Walsh and Littman 2006: observations that call for the same plan share one
text), with the relevance read from the mission as in instruction-following agents' object filtering.
"""
import re

import numpy as np
from minigrid.core.constants import COLOR_NAMES, IDX_TO_COLOR, OBJECT_TO_IDX, STATE_TO_IDX

OPEN = STATE_TO_IDX["open"]
LOCKED = STATE_TO_IDX["locked"]
DOOR, KEY = OBJECT_TO_IDX["door"], OBJECT_TO_IDX["key"]
IDX_TO_STATE = {i: s for s, i in STATE_TO_IDX.items()}
_WORD = re.compile(r"[a-z]+")
CONDITIONAL = {"ball"}   # kinds shown only where the mission names them or one blocks a door


def mission_words(mission):
    """(colour words, kind words) the mission names."""
    words = set(_WORD.findall((mission or "").lower()))
    return words & set(COLOR_NAMES), words & set(OBJECT_TO_IDX)


def next_to_door(kind, x, y):
    """True where cell (x, y) of a kind map has a door beside it (4-neighbourhood)."""
    w, h = kind.shape
    return any(0 <= nx < w and 0 <= ny < h and kind[nx, ny] == DOOR
               for nx, ny in ((x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)))


def reduced_description(naming, obs, ax, ay, mission_colours, mission_kinds, anon_start):
    """(sees, holds, objects, carried, colour_map) of a memory observation under a "relevant colours" rule.
    mission_colours: real colour -> color label of the mission's colours (labelled first); anon_start: the next
    label number."""
    kind = obs[:, :, 0]
    found = []  # (kind index, kind name, x, y, colour word, state index)
    for idx, kind_name in naming.kinds:
        for x, y in zip(*np.nonzero(kind == idx)):
            if x != ax or y != ay:
                found.append((idx, kind_name, int(x), int(y), IDX_TO_COLOR[int(obs[x, y, 1])], int(obs[x, y, 2])))
    held = naming.pickable.get(int(kind[ax, ay]))
    held_colour = IDX_TO_COLOR[int(obs[ax, ay, 1])] if held is not None else None
    keys = {c for i, _, _, _, c, _ in found if i == KEY} | ({held_colour} if held == "key" else set())
    locked = {c for i, _, _, _, c, s in found if i == DOOR and s == LOCKED}
    paired = (keys | locked) if keys and locked else set()  # which key opens which door

    def name(kind_name, colour, state):
        shown = colour in mission_colours or (colour in paired and (kind_name == "key" or state == LOCKED))
        word = colour if shown and kind_name != "goal" else None
        text = f"{word} {kind_name}" if word else kind_name
        if kind_name == "door" and naming.states:
            text = f"{IDX_TO_STATE[state]} {text}"
        return text, word

    objects, best, colours, blocking = {}, {}, {}, {}
    groups = []
    for idx, kind_name in naming.kinds:
        group = []
        for i, k, x, y, colour, state in found:
            if i != idx:
                continue
            blocks = naming.blocking and k in naming.pickable.values() and next_to_door(kind, x, y)
            if k == "door" and state == OPEN and colour not in mission_colours:
                continue
            if k in CONDITIONAL and k not in mission_kinds and not blocks:
                continue
            text, colours[text] = name(k, colour, state)
            distance = abs(x - ax) + abs(y - ay)
            if text not in objects:
                group.append(text)
            elif distance >= best[text]:
                continue
            objects[text], best[text], blocking[text] = (x, y), distance, blocks
        groups.append(group)
    carried = None
    if held is not None:
        carried, colours[carried] = name(held, held_colour, 0)
    labels = dict(mission_colours)

    def order(text):  # by the name as shown: labelled colours as their label, others after them
        colour = colours[text]
        return text if colour is None else text.replace(colour, labels.get(colour, "color~" + colour), 1)
    groups = [sorted(g, key=order) for g in groups]
    for text in [t for g in groups for t in g] + ([carried] if carried else []):
        colour = colours[text]
        if colour is not None and colour not in labels:
            labels[colour] = f"color{anon_start + len(labels) - len(mission_colours)}"

    def shown(text):
        colour = colours[text]
        return text if colour is None else text.replace(colour, labels[colour], 1)

    seen = [t for g in groups for t in g]
    sees = ", ".join(f"<{shown(t)}>" + (" (blocks a door)" if blocking[t] else "") for t in seen) or "<nothing>"
    holds = f"<{shown(carried)}>" if carried else "<nothing>"
    return sees, holds, objects, carried, {label: real for real, label in labels.items()}
