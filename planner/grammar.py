"""What an LLM may answer: GBNF grammars (llama.cpp's constrained decoding) and candidate plans, made per
observation text from the objects that text names.

An admitted answer is exactly `Action: {step, step, ...}` (1 to MAX_STEPS steps); a step is `explore` or an action
on an object the text names, with the verbs that object's kind affords as the task description states them: a key
seen is gone to or picked up, a door seen is gone to, and opened only while a key is held (of the door's colour
where colours are named), the held object is dropped. Every such answer parses (`planner.answers.extract_plan`).
"""
import re

ACTIONS = ("go to", "pick up", "drop", "open")
MAX_STEPS = 4
_OBJECT = re.compile(r"<([^<>]+)>")


def parse_text(text):
    """(objects seen, object held) of an observation text "Agent sees <a>, <b>, holds <c>." (names with <>)."""
    seen, _, held = str(text).partition(" holds ")
    objects = [f"<{o}>" for o in _OBJECT.findall(seen) if o != "nothing"]
    carried = [f"<{o}>" for o in _OBJECT.findall(held) if o != "nothing"]
    return objects, (carried[0] if carried else None)


def can_open(door, held):
    """A door opens only while a key is held, of the door's colour when colours are named (<color1 door>)."""
    if not held or "key" not in held:
        return False
    colour = door.strip("<>").split(" ")
    return len(colour) == 1 or held.strip("<>").split(" ")[0] == colour[0]


def steps(text):
    """The steps an answer to `text` may use: explore, and what each object affords."""
    objects, held = parse_text(text)
    out = ["explore"]
    for o in objects:
        if "key" in o:
            out += [f"go to {o}", f"pick up {o}"]
        elif "door" in o:
            out += [f"go to {o}"] + ([f"open {o}"] if can_open(o, held) else [])
    if held:
        out.append(f"drop {held}")
    return out


def candidate_plans(text):
    """The plans whose probabilities --llm_plans logprobs asks the model for: explore, getting each key seen,
    opening each door seen that the held key opens, dropping what is held."""
    objects, held = parse_text(text)
    plans = ["explore"]
    plans += [f"go to {o}, pick up {o}" for o in objects if "key" in o]
    plans += [f"go to {o}, open {o}" for o in objects if "door" in o and can_open(o, held)]
    if held:
        plans.append(f"drop {held}")
    return plans


def _literal(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def observation_grammar(text, max_steps=MAX_STEPS):
    """GBNF for `Action: {plan}` with the steps of one observation text."""
    if max_steps < 1:
        raise ValueError("max_steps must be >= 1")
    step = " | ".join(_literal(s) for s in steps(text))
    tail = ' (", " step)?' * (max_steps - 1)
    return "\n".join(['root ::= "Action: {" plan "}"', f"plan ::= step{tail}", f"step ::= {step}", ""])


def choice_grammar(plans):
    """GBNF admitting exactly `Action: {p}` for one of the plans."""
    return "root ::= " + " | ".join(_literal(f"Action: {{{p}}}") for p in plans) + "\n"
