"""Mediator: memory observation -> text for the planner, and plan text -> options for the teacher.

One mediator for every task, parameterised by the task's naming rule (data: configs/vocabulary.json, picked by
object_names in configs/tasks.json):
- "plain": <key>, <door>                       (SimpleDoorKey, LavaDoorKey)
- "anonymised_colours": <blue key>, <red door>  shown to the planner as <color1 key>, ... in order of first
  mention; plans come back anonymised and are restored to real colours here    (ColoredDoorKey)
- "numbered_doors": <key>, <door1>, <door2> with doors numbered in scan order   (TwoDoor)
- "boxes": <key>, <box>, <door>                                                   (KeyInBox, RandomBoxKey)
- "minigrid": "Mission: <the env's mission>. Agent sees <grey ball> (blocks a door), <yellow key>, <locked yellow
  door>, <green goal>, ..." with colours and door states (locked / closed / open), objects lying next to a door
  marked; of several objects of one name, the nearest (any registered minigrid id)
- "minigrid_anonymised": the same with colours anonymised, the mission's first ("Mission: pick up the color1 box.
  Agent sees <color2 key>, ...": far fewer distinct texts, so recorded answers cover a task)
- "minigrid_reduced": what a plan needs, the rest left out ("Mission: pick up the color1 ball. Agent sees
  <color2 key>, <box>, <ball> (blocks a door), <locked color2 door>, <closed door>, holds <nothing>."):
  teacher/reduced_text.py
Objects are read from the memory observation each step (an object on the agent's cell is the carried one) and
listed kind by kind (the rule's order), within a kind in the order they (re)appeared this episode, as the
official mediator's object record does: a key that is picked up leaves the list and, once dropped, rejoins it at
the end. That order (and the episode's mission) is the only episode state.
"""
import re
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from minigrid.core.constants import COLOR_NAMES, IDX_TO_COLOR, OBJECT_TO_IDX

from env.memory import NO_AGENT
from planner.task_spec import naming_rule, vocabulary
from teacher.reduced_text import _WORD, IDX_TO_STATE, mission_words, reduced_description

DOOR = OBJECT_TO_IDX["door"]


class Description(NamedTuple):
    text: str           # what the planner sees (anonymised where the task says so)
    objects: dict       # real object name -> (x, y), visible in memory (not carried)
    carried: str        # real name of the carried object, or None
    colour_map: dict    # "color1" -> "blue" (anonymised tasks only)


def agent_state(obs):
    """(x, y, direction) of the agent in a memory observation."""
    xs, ys = np.nonzero(obs[:, :, 3] != NO_AGENT)
    x, y = int(xs[0]), int(ys[0])
    return x, y, int(obs[x, y, 3])


class Naming:
    """A naming rule (configs/vocabulary.json) compiled for the mediator."""

    def __init__(self, rule):
        self.rule = rule
        kinds = vocabulary()["kinds"]
        self.kinds = [(OBJECT_TO_IDX[k], k) for k in rule["kinds"]]
        self.pickable = {OBJECT_TO_IDX[k]: k for k in rule["kinds"] if "pick up" in kinds[k]}
        self.coloured = rule["colours"] != "none"
        self.anonymised = rule["colours"] in ("anonymised", "relevant")
        self.relevant = rule["colours"] == "relevant"  # reduced texts (teacher/reduced_text.py)
        self.numbered = rule["doors"] == "numbered"
        self.states = rule["door_states"]
        self.mission = rule["mission"]
        self.nearest = rule["duplicates"] == "nearest"
        self.blocking = rule["blocking"]
        # what a Description depends on: objects and colours, and door states where they are named
        self.channels = 3 if self.states else 2

    def name(self, kind, colour, state, index):
        """(name, colour word or None) of an object of `kind` (a name like "key"), colour and state indices,
        the index-th of its kind in scan order."""
        if kind == "door" and self.numbered:
            return f"door{index + 1}", None
        colour_word = IDX_TO_COLOR[int(colour)] if self.coloured else None
        name = f"{colour_word} {kind}" if colour_word else kind
        if kind == "door" and self.states:
            name = f"{IDX_TO_STATE[int(state)]} {name}"
        return name, colour_word


class Mediator:
    """Observation -> Description for one task's naming rule (its name or the rule itself). Call reset() at
    every episode start (with the episode's mission where the rule shows it)."""

    def __init__(self, rule):
        self.naming = Naming(naming_rule(rule) if isinstance(rule, str) else rule)
        self.order = {}  # object name -> when it (re)appeared; keeps insertion order
        self.clock = 0
        self.memo = {}   # (object channels, agent cell, clock) -> Description
        self.mission_text = ""
        self.mission_colours = {}  # anonymised rules: colour word of the mission -> color1, color2, ...

    def reset(self, mission=None):
        self.order.clear()
        self.clock = 0
        self.memo.clear()
        self.mission_text, self.mission_colours, self.mission_kinds = "", {}, set()
        if self.naming.mission and mission:
            self.mission_kinds = mission_words(mission)[1]
            if self.naming.anonymised:  # the mission's colours are named first, the objects' after them
                for word in _WORD.findall(mission):
                    if word in COLOR_NAMES and word not in self.mission_colours:
                        self.mission_colours[word] = f"color{len(self.mission_colours) + 1}"
                mission = _WORD.sub(lambda m: self.mission_colours.get(m.group(0), m.group(0)), mission)
            self.mission_text = f"Mission: {mission}. "

    def describe(self, obs, agent=None):
        """The Description of an observation. Memoised on what it depends on: the object and colour channels
        (and states, where doors' are named), the agent's cell and the object order (which only changes when
        objects appear or disappear)."""
        ax, ay, _ = agent if agent is not None else agent_state(obs)
        key = (obs[:, :, :self.naming.channels].tobytes(), ax, ay, self.clock)
        found = self.memo.get(key)
        if found is None:
            found = self._describe(obs, ax, ay)
            self.memo[(key[0], ax, ay, self.clock)] = found
        return found

    def _describe(self, obs, ax, ay):
        naming = self.naming
        if naming.relevant:
            sees, holds, objects, carried, colour_map = reduced_description(
                naming, obs, ax, ay, self.mission_colours, self.mission_kinds, len(self.mission_colours) + 1)
            return Description(f"{self.mission_text}Agent sees {sees}, holds {holds}.", objects, carried, colour_map)
        kind = obs[:, :, 0]
        objects, colours, groups = {}, {}, []
        for idx, kind_name in naming.kinds:
            group, best = [], {}
            for i, (x, y) in enumerate(zip(*np.nonzero(kind == idx))):
                if x == ax and y == ay:
                    continue
                name, colours[name] = naming.name(kind_name, obs[x, y, 1], obs[x, y, 2], i)
                if name not in objects:
                    objects[name] = (int(x), int(y))
                    group.append(name)
                    best[name] = abs(int(x) - ax) + abs(int(y) - ay)
                elif naming.nearest and abs(int(x) - ax) + abs(int(y) - ay) < best[name]:
                    objects[name] = (int(x), int(y))
                    best[name] = abs(int(x) - ax) + abs(int(y) - ay)
            groups.append(group)
        order = self.order
        gone = [n for n in order if n not in objects]
        for name in gone:
            del order[name]
        if gone:
            self.clock += 1  # a different order from now on: older memo entries no longer apply
        for group in groups:
            for name in group:
                if name not in order:
                    order[name] = self.clock
                    self.clock += 1
        seen_names = []
        for group in groups:
            seen_names += sorted(group, key=order.__getitem__)
        carried = None
        held = naming.pickable.get(int(kind[ax, ay]))
        if held is not None:
            carried, colours[carried] = naming.name(held, obs[ax, ay, 1], obs[ax, ay, 2], 0)
        colour_map = {}
        if naming.anonymised:
            real_to_anon = dict(self.mission_colours)
            for name in seen_names + ([carried] if carried else []):
                colour = colours[name]
                if colour is not None and colour not in real_to_anon:
                    real_to_anon[colour] = f"color{len(real_to_anon) + 1}"
            colour_map = {anon: real for real, anon in real_to_anon.items()}

            def shown(name):
                colour = colours[name]
                return name if colour is None else name.replace(colour, real_to_anon[colour], 1)
        else:
            def shown(name):
                return name
        blocking = self._blocking(kind, objects) if naming.blocking else ()
        sees = ", ".join(f"<{shown(n)}>" + (" (blocks a door)" if n in blocking else "") for n in seen_names) \
            or "<nothing>"
        holds = f"<{shown(carried)}>" if carried else "<nothing>"
        return Description(f"{self.mission_text}Agent sees {sees}, holds {holds}.", objects, carried, colour_map)

    def _blocking(self, kind, objects):
        """Names of the objects (that can be picked up) lying next to a door."""
        doors = np.pad(kind == DOOR, 1)
        out = set()
        for name, (x, y) in objects.items():
            if int(kind[x, y]) in self.naming.pickable and \
                    (doors[x, y + 1] or doors[x + 2, y + 1] or doors[x + 1, y] or doors[x + 1, y + 2]):
                out.add(name)
        return out


_ANON = re.compile(r"\bcolor(\d+)\b")


def restore_colours(plan, colour_map):
    """Replace color1/color2 in a plan by the real colours; unknown placeholders are left (they match nothing)."""
    if not colour_map:
        return plan
    return _ANON.sub(lambda m: colour_map.get(m.group(0), m.group(0)), plan)


class Option(NamedTuple):
    kind: str      # explore | goto | pickup | drop | toggle | wait
    target: str    # object name (without <>), or None


_OBJECT = re.compile(r"<([^<>]*)>")


@lru_cache(maxsize=4096)
def parse_plan(plan):
    """Plan text -> tuple of Options. Pieces are split on commas; anything unrecognised becomes wait."""
    options = []
    for piece in plan.lower().split(","):
        piece = " ".join(piece.split())
        if not piece:
            continue
        match = _OBJECT.search(piece)
        target = " ".join(match.group(1).split()) if match else None
        if "explore" in piece:
            options.append(Option("explore", None))
        elif "go to" in piece:
            options.append(Option("goto", target) if target else Option("wait", None))
        elif "pick up" in piece:
            options.append(Option("pickup", target))
        elif "drop" in piece:
            options.append(Option("drop", target))
        elif "open" in piece:
            options.append(Option("toggle", target))
        else:
            options.append(Option("wait", None))
    return tuple(options)
