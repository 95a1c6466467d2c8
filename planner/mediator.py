"""Mediator: memory observation -> text for the planner, and plan text -> options for the teacher.

One mediator for every task, parameterised by the task's `object_names` rule:
- "plain": <key>, <door>                       (SimpleDoorKey, LavaDoorKey)
- "anonymised_colours": <blue key>, <red door>  shown to the planner as <color1 key>, ... in order of first
  mention; plans come back anonymised and are restored to real colours here    (ColoredDoorKey)
- "numbered_doors": <key>, <door1>, <door2> with doors numbered in scan order   (TwoDoor)
Objects are read from the memory observation each step (a key on the agent's cell is the carried one) and
listed in the order they (re)appeared this episode, as the official mediator's object record does: a key that
is picked up leaves the list and, once dropped, rejoins it at the end. That order is the only episode state.
"""
import re
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from minigrid.core.constants import IDX_TO_COLOR, OBJECT_TO_IDX

from env.tasks import NO_AGENT

KEY, DOOR = OBJECT_TO_IDX["key"], OBJECT_TO_IDX["door"]


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


def _key_name(rule, colour):
    return f"{colour} key" if rule == "anonymised_colours" else "key"


class Mediator:
    """Observation -> Description for one task's naming rule. Call reset() at every episode start."""

    def __init__(self, rule):
        self.rule = rule
        self.order = {}  # object name -> when it (re)appeared; keeps insertion order
        self.clock = 0
        self.memo = {}   # (object and colour channels, agent cell, clock) -> Description

    def reset(self):
        self.order.clear()
        self.clock = 0
        self.memo.clear()

    def describe(self, obs, agent=None):
        """The Description of an observation. Memoised on what it depends on: the object and colour channels,
        the agent's cell and the object order (which only changes when objects appear or disappear)."""
        ax, ay, _ = agent if agent is not None else agent_state(obs)
        key = (obs[:, :, :2].tobytes(), ax, ay, self.clock)
        found = self.memo.get(key)
        if found is None:
            found = self._describe(obs, ax, ay)
            self.memo[(key[0], ax, ay, self.clock)] = found
        return found

    def _describe(self, obs, ax, ay):
        rule = self.rule
        kind = obs[:, :, 0]
        objects = {}
        keys, doors = [], []
        for x, y in zip(*np.nonzero(kind == KEY)):
            if x == ax and y == ay:
                continue
            name = _key_name(rule, IDX_TO_COLOR[int(obs[x, y, 1])])
            if name not in objects:
                objects[name] = (int(x), int(y))
                keys.append(name)
        for i, (x, y) in enumerate(zip(*np.nonzero(kind == DOOR))):
            if rule == "anonymised_colours":
                name = f"{IDX_TO_COLOR[int(obs[x, y, 1])]} door"
            elif rule == "numbered_doors":
                name = f"door{i + 1}"
            else:
                name = "door"
            if name not in objects:
                objects[name] = (int(x), int(y))
                doors.append(name)
        order = self.order
        gone = [n for n in order if n not in objects]
        for name in gone:
            del order[name]
        if gone:
            self.clock += 1  # a different order from now on: older memo entries no longer apply
        for name in keys + doors:
            if name not in order:
                order[name] = self.clock
                self.clock += 1
        keys.sort(key=order.__getitem__)
        doors.sort(key=order.__getitem__)
        seen_names = keys + doors
        carried = None
        if kind[ax, ay] == KEY:
            carried = _key_name(rule, IDX_TO_COLOR[int(obs[ax, ay, 1])])
        colour_map = {}
        if rule == "anonymised_colours":
            real_to_anon = {}
            for name in seen_names + ([carried] if carried else []):
                colour = name.split(" ")[0]
                if colour not in real_to_anon:
                    real_to_anon[colour] = f"color{len(real_to_anon) + 1}"
            colour_map = {anon: real for real, anon in real_to_anon.items()}

            def shown(name):
                colour, noun = name.split(" ")
                return f"{real_to_anon[colour]} {noun}"
        else:
            def shown(name):
                return name
        sees = ", ".join(f"<{shown(n)}>" for n in seen_names) or "<nothing>"
        holds = f"<{shown(carried)}>" if carried else "<nothing>"
        return Description(f"Agent sees {sees}, holds {holds}.", objects, carried, colour_map)


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
