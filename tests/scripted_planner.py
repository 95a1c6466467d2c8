"""A scripted "correct plan" planner for the tests: the plan a sensible reader of the observation text would
choose, from the text alone (written independently of planner.live.grammar's rules). With it the teacher's options
and mediator are measured on their own, without an LLM.

It reads the texts of the "boxes" and "minigrid" naming rules (and "plain"): objects <[state] [colour] kind>, what
is held, and the mission ("pick up the <colour> <kind>" names a target).
"""
import re

STATES = ("locked", "closed", "open")


def parse(text):
    """(mission, objects seen, objects seen that block a door, object held or None)."""
    mission = text.split("Mission: ", 1)[1].split(". Agent sees", 1)[0] if text.startswith("Mission: ") else ""
    seen, _, held = text.rpartition(" holds ")
    found = [(o, b) for o, b in re.findall(r"<([^<>]+)>( \(blocks a door\))?", seen) if o != "nothing"]
    held = [o for o in re.findall(r"<([^<>]+)>", held) if o != "nothing"]
    return mission, [o for o, _ in found], [o for o, b in found if b], (held[0] if held else None)


def words(name):
    """(state, colour, kind) of an object name; a door without a state is a locked one (the paper's rooms)."""
    parts = name.split()
    kind = re.sub(r"\d+$", "", parts[-1])
    state = parts[0] if parts[0] in STATES else ("locked" if kind == "door" else None)
    rest = [p for p in parts[:-1] if p not in STATES]
    return state, (rest[0] if rest else None), kind


def plan(text):
    mission, objects, blocking, held = parse(text)
    info = {o: words(o) for o in objects}
    held_state, held_colour, held_kind = words(held) if held else (None, None, None)
    target = re.search(r"pick up the (\w+) (\w+)", mission)
    target = (target.group(1), target.group(2)) if target else None
    for o in blocking:  # clear the way first
        if info[o][1:] != target:
            return f"drop <{held}>" if held else f"go to <{o}>, pick up <{o}>"
    if held and held_kind != "key" and (held_colour, held_kind) != target:
        return f"drop <{held}>"

    def fits(key_colour, door_colour):
        return key_colour is None or door_colour is None or key_colour == door_colour

    locked = [o for o, (s, c, k) in info.items() if k == "door" and s == "locked"]
    for door in locked:  # holding the key of a locked door: open it
        if held_kind == "key" and fits(held_colour, info[door][1]):
            return f"go to <{door}>, open <{door}>"
    if target:  # the mission's object
        for o, (s, c, k) in info.items():
            if (c, k) == target:
                return f"drop <{held}>" if held else f"go to <{o}>, pick up <{o}>"
    for o, (s, c, k) in info.items():
        if k == "goal":
            return f"go to <{o}>"
    if held_kind != "key":
        for o, (s, c, k) in info.items():  # a key for a locked door (or for a door not seen yet)
            if k == "key" and (not any(info[d][2] == "door" for d in info)
                               or any(fits(c, info[d][1]) for d in locked)):
                return (f"drop <{held}>, " if held else "") + f"go to <{o}>, pick up <{o}>"
        if not any(k == "key" for _, _, k in info.values()):
            for o, (s, c, k) in info.items():  # the key may be in a box
                if k == "box" and (target is None or (c, k) != target):
                    return f"go to <{o}>, open <{o}>"
    for o, (s, c, k) in info.items():
        if k == "door" and s == "closed":
            return f"go to <{o}>, open <{o}>"
    return "explore"


class ScriptedPlanner:
    """The Planner interface (plans(text) -> [(plan, 1.0)]), remembering the texts it was asked."""

    def __init__(self):
        self.texts = set()

    def plans(self, text):
        self.texts.add(text)
        return [(plan(text), 1.0)]

    def stats(self):
        return {}


def teacher_alone_wins(teacher, env_id, episodes, first_seed=2_000_000):
    """Successes of a MiniGrid teacher acting alone (its most likely action) on `episodes` held-out episodes (env
    seeds first_seed, first_seed + 1, ...)."""
    import numpy as np
    import env as env_pkg
    e = env_pkg.make_env(env_id)
    wins = 0
    for i in range(episodes):
        obs, _ = e.reset(seed=first_seed + i)
        teacher.reset(e.mission)
        while True:
            probs = teacher(obs, (e.agent_pos[0], e.agent_pos[1], e.agent_dir))
            obs, _, terminated, truncated, info = e.step(int(np.argmax(probs)))
            if terminated or truncated:
                break
        wins += info["success"]
    return wins
