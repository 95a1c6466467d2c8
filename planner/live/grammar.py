"""What an LLM may answer: GBNF grammars (llama.cpp's constrained decoding) and candidate plans, made per
observation text from the objects that text names, over the teacher's vocabulary (configs/vocabulary.json:
kinds key, ball, box, door, goal, lava; verbs go to, pick up, open, and explore, drop).

An admitted answer is exactly `Action: {step, step, ...}` (1 to MAX_STEPS steps); a step is `explore`, `drop` of
the object held, or a verb on an object the text names. Which verbs, is the `candidates` setting:
- "afforded" (the default): the verbs the object's kind affords (the vocabulary), and a door is opened only when
  it can be: a locked one (or one without a state, as in the paper's rooms) only while a key is held, of the
  door's colour where colours are named; a closed one always; an open one never. An object the mission asks to
  pick up ("Mission: pick up the color1 box.") is never opened: opening a box turns it into its content, so the
  mission could no longer be done. The agent carries one thing, so while it holds one, a candidate plan that picks
  another up drops the held one first.
- "all": every verb on every object named, with no rule about which key opens which door.
- "carry" (MiniWorld's 3D rooms, where nothing opens and things are put next to each other): go to and pick up,
  and while an object is held, going to each other object seen and putting the held one down there.
The candidate plans (--llm_plans logprobs) are explore, `go to <o>, <verb> <o>` for each such verb (`go to <o>`
alone for an object whose only verb is go to, or for every object under "all"), and dropping what is held. Every
such answer parses (`planner.answers.extract_plan`).
"""
import re

from planner.task_spec import vocabulary

ACTIONS = ("go to", "pick up", "drop", "open")
CANDIDATES = ("afforded", "all", "carry")
MAX_STEPS = 4
STATES = ("locked", "closed", "open")
_OBJECT = re.compile(r"<([^<>]+)>")
_PICK_UP_MISSION = re.compile(r"^Mission: pick up (?:the|a|an) ([^.<>]+?)\.")


def parse_text(text):
    """(objects seen, object held) of an observation text "[Mission: ...] Agent sees <a>, <b>, holds <c>." (names
    with <>)."""
    seen, _, held = str(text).rpartition(" holds ")
    objects = [f"<{o}>" for o in _OBJECT.findall(seen) if o != "nothing"]
    carried = [f"<{o}>" for o in _OBJECT.findall(held) if o != "nothing"]
    return objects, (carried[0] if carried else None)


def mission_pick_up(text):
    """(colour, kind) of the object the text's mission asks to pick up ("Mission: pick up the color1 box." ->
    ("color1", "box")), or None."""
    m = _PICK_UP_MISSION.match(str(text))
    return name_parts(f"<{m.group(1)}>")[1:] if m else None


def name_parts(name):
    """(state, colour, kind) of an object name such as <locked blue door>, <color1 key>, <door2>, <key>."""
    words = name.strip("<>").split(" ")
    kind = re.sub(r"\d+$", "", words[-1])
    state = words[0] if len(words) > 1 and words[0] in STATES else None
    colours = [w for w in words[:-1] if w not in STATES]
    return state, (colours[0] if colours else None), kind


def can_open(door, held):
    """A door without a state, or a locked one, opens only while a key is held, of the door's colour when colours
    are named (<color1 door>); a closed door always opens, an open one does not."""
    state, colour, _ = name_parts(door)
    if state in ("closed", "open"):
        return state == "closed"
    if not held or name_parts(held)[2] != "key":
        return False
    return colour is None or name_parts(held)[1] == colour


def verbs(obj, held, candidates="afforded", target=None):
    """The verbs (besides drop) an answer may use on an object seen; `target`: the mission's (colour, kind) to pick
    up (`mission_pick_up`), never opened."""
    if candidates == "all":
        return ["go to", "pick up", "open"]
    _, colour, kind = name_parts(obj)
    out = vocabulary()["kinds"].get(kind, [])
    if candidates == "carry":
        return [v for v in out if v != "open"]
    if kind == "door":
        out = [v for v in out if v != "open" or can_open(obj, held)]
    if target is not None and target[1] == kind and target[0] in (None, colour):
        out = [v for v in out if v != "open"]
    return out


def _check(candidates):
    if candidates not in CANDIDATES:
        raise ValueError(f"candidates must be one of {CANDIDATES}, got {candidates!r}")


def steps(text, candidates="afforded"):
    """The steps an answer to `text` may use: explore, the verbs on each object seen, dropping what is held."""
    _check(candidates)
    objects, held = parse_text(text)
    target = mission_pick_up(text)
    out = ["explore"]
    for o in objects:
        out += [f"{v} {o}" for v in verbs(o, held, candidates, target)]
    if held:
        out.append(f"drop {held}")
        if candidates == "carry":
            out += [f"go to {o}" for o in objects if o != held]
    return out


def candidate_plans(text, candidates="afforded"):
    """The plans whose probabilities --llm_plans logprobs asks the model for: explore; per object seen (kind by
    kind, in the vocabulary's order), going to it and using each verb; dropping what is held."""
    _check(candidates)
    objects, held = parse_text(text)
    kinds = list(vocabulary()["kinds"])
    rank = {o: kinds.index(k) if (k := name_parts(o)[2]) in kinds else len(kinds) for o in objects}
    target = mission_pick_up(text)
    plans = ["explore"]
    for o in sorted(objects, key=rank.__getitem__):  # stable: text order within a kind
        vs = verbs(o, held, candidates, target)
        if candidates == "all" or vocabulary()["kinds"].get(name_parts(o)[2]) == ["go to"]:
            plans.append(f"go to {o}")
        for v in vs:
            if v == "pick up" and held and candidates != "all":  # one thing at a time: put the held one down
                plans.append(f"drop {held}, go to {o}, pick up {o}")
            elif v != "go to":
                plans.append(f"go to {o}, {v} {o}")
    if held:
        plans.append(f"drop {held}")
        if candidates == "carry":  # put the held object next to another
            plans += [f"go to {o}, drop {held}" for o in sorted(objects, key=rank.__getitem__) if o != held]
    return plans


def _literal(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def observation_grammar(text, max_steps=MAX_STEPS, candidates="afforded"):
    """GBNF for `Action: {plan}` with the steps of one observation text."""
    if max_steps < 1:
        raise ValueError("max_steps must be >= 1")
    step = " | ".join(_literal(s) for s in steps(text, candidates))
    tail = ' (", " step)?' * (max_steps - 1)
    return "\n".join(['root ::= "Action: {" plan "}"', f"plan ::= step{tail}", f"step ::= {step}", ""])


def observation_grammar_all(text, max_steps=MAX_STEPS):
    """observation_grammar with every verb on every object (candidates "all")."""
    return observation_grammar(text, max_steps, "all")


def grammar_for(candidates):
    """The grammar function of a candidates setting (its name goes into the plan cache's sampling settings)."""
    _check(candidates)
    return observation_grammar if candidates == "afforded" else observation_grammar_all


def choice_grammar(plans, prefix="Action: {"):
    """GBNF admitting exactly `Action: {p}` for one of the plans; with prefix "" only what follows "Action: {" (when
    the answer's start is given to the server as the beginning of its reply)."""
    return "root ::= " + " | ".join(_literal(f"{prefix}{p}}}") for p in plans) + "\n"
