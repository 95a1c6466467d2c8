"""GBNF grammars (llama.cpp's constrained decoding) that only admit answers the teacher can parse.

An admitted answer is exactly `Action: {step, step, ...}` with 1 to MAX_STEPS steps, each `explore` or
`go to|pick up|drop|open <object>`, objects from the task's vocabulary. Every such answer is accepted by
`planner.answers.extract_plan`.
"""
ACTIONS = ("go to", "pick up", "drop", "open")
MAX_STEPS = 4


def object_names(task_cfg):
    """The `<...>` object names the teacher uses in a task's observation texts and plans."""
    naming = task_cfg.get("object_names", "plain")
    objects = task_cfg.get("objects") or ["key", "door"]
    if naming == "plain":
        return [f"<{o}>" for o in objects]
    if naming == "anonymised_colours":
        return [f"<color{i} {o}>" for o in objects for i in (1, 2)]
    if naming == "numbered_doors":
        return [name for o in objects for name in ([f"<{o}1>", f"<{o}2>"] if o == "door" else [f"<{o}>"])]
    raise ValueError(f"unknown object naming {naming!r}")


def _literal(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def plan_grammar(objects, max_steps=MAX_STEPS):
    """GBNF text for `Action: {plan}` over the given object names."""
    if not objects:
        raise ValueError("the grammar needs at least one object name")
    if max_steps < 1:
        raise ValueError("max_steps must be >= 1")
    obj = " | ".join(_literal(o) for o in objects)
    step = " | ".join([_literal("explore")] + [f"{_literal(a + ' ')} obj" for a in ACTIONS])
    tail = ' (", " step)?' * (max_steps - 1)
    return "\n".join([
        'root ::= "Action: {" plan "}"',
        f"plan ::= step{tail}",
        f"step ::= {step}",
        f"obj ::= {obj}",
        "",
    ])


def task_grammar(task_cfg, max_steps=MAX_STEPS):
    return plan_grammar(object_names(task_cfg), max_steps)
