"""The mission's objects marked on the memory map (--mission_mark): the student's map gets a fifth channel, 1 on each
seen cell holding an object the mission names ("go to the grey key": every grey key seen; "... and go to the goal":
every goal), else 0.

The student's memory map shows objects but not the mission, so on a task whose mission changes per episode (BabyAI's
GoTo levels: "go to the red ball" beside a distractor; LockedRoom's key and door colours) it cannot tell the target
from the rest, where its teacher, which reads the mission, can. BabyAI's agents read the instruction through a
learnt language encoder; the mark gives the same information already grounded: the mission's words are matched
against minigrid's own object and colour names, a colour word binding the object word after it ("traverse the rooms
to get to the goal": every goal). A mission that names no object marks nothing.
"""
import re

import numpy as np
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX

# what a mission can name: minigrid's objects the agent acts on or heads for (not the map's own cell kinds)
OBJECTS = {name: idx for name, idx in OBJECT_TO_IDX.items() if name not in ("unseen", "empty", "wall", "floor", "agent")}


def mission_targets(mission):
    """The (object index, colour index or None for any colour) pairs a mission names, in order, without repeats."""
    words = re.findall(r"[a-z]+", str(mission).lower())
    targets = []
    for i, word in enumerate(words):
        if word in OBJECTS:
            colour = COLOR_TO_IDX.get(words[i - 1]) if i > 0 else None
            target = (OBJECTS[word], colour)
            if target not in targets:
                targets.append(target)
    return targets


def target_table(targets):
    """table[object, colour] = 1 for each target (every colour where it names none): what mission_mask reads."""
    table = np.zeros((max(OBJECT_TO_IDX.values()) + 1, max(COLOR_TO_IDX.values()) + 1), dtype=np.uint8)
    for obj, colour in targets:
        table[obj, slice(None) if colour is None else colour] = 1
    return table


def mission_mask(obs, table):
    """(W, H) uint8: 1 where the map obs (minigrid's (object, colour, state) in channels 0-2) holds a target of
    target_table's table."""
    return table[obs[:, :, 0], obs[:, :, 1]]
