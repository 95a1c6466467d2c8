"""Can the teacher work in a task's world? Checked once, before a run starts (a clear UserError otherwise).

The teacher names objects by its naming rule and acts on them with the options of the vocabulary
(configs/vocabulary.json); everything else must be terrain (walls, floor, lava, empty). A world is looked at in a
few freshly generated episodes, boxes' contents included. The memory map also assumes that the world changes only
where the agent sees it, so a world whose objects move by themselves (minigrid's Dynamic-Obstacles) is refused.
"""
from minigrid.core.actions import Actions

from utils.errors import UserError
from planner.task_spec import naming_rule, vocabulary

SEEDS = range(8)


def world_kinds(env, seeds=SEEDS):
    """The object kinds in the grids of fresh episodes of `env` (contents of boxes included)."""
    kinds = set()
    for seed in seeds:
        env.reset(seed=seed)
        for cell in env.grid.grid:
            while cell is not None:
                kinds.add(cell.type)
                cell = getattr(cell, "contains", None)
    return kinds


def moves_by_itself(env, seed=0, turns=3):
    """True if the grid changes while the agent only turns on the spot."""
    env.reset(seed=seed)
    before = env.grid.encode().tobytes()
    for _ in range(turns):
        _, _, terminated, truncated, _ = env.step(int(Actions.left))
        if env.grid.encode().tobytes() != before:
            return True
        if terminated or truncated:
            break
    return False


def check_miniworld(task, seeds=SEEDS):
    """UserError (one line) if a MiniWorld task's rooms hold no object the teacher's skills can act on."""
    import env as env_pkg
    from env import miniworld
    env = env_pkg.make_env(task["env_id"])
    try:
        for seed in seeds[:2]:
            env.reset(seed=seed)
            if miniworld.objects(env):
                return
    finally:
        env.close()
    raise UserError(f"task {task['name']}: {task['env_id']} has no box, ball or key, the objects the teacher's skills "
                    "act on (MiniWorld-PutNext-v0 and MiniWorld-PickupObjects-v0 have them)")


def check_world(task):
    """UserError (one line) if the teacher of `task` (a planner.task_spec.task_config dict) cannot act in its world."""
    import env as env_pkg
    if task.get("world") == "miniworld":
        return check_miniworld(task)
    try:
        env = env_pkg.make_env(task["env_id"])
    except ValueError as e:
        raise UserError(f"task {task['name']}: {e}") from None
    try:
        kinds, moving = world_kinds(env), moves_by_itself(env)
    except Exception as e:  # a third-party environment that cannot generate its world on this machine
        raise UserError(f"task {task['name']}: {task['env_id']} cannot generate a world ({type(e).__name__}: "
                        f"{' '.join(str(e).split())})") from None
    rule_name = task["object_names"]
    vocab = vocabulary()
    handled = set(naming_rule(rule_name)["kinds"]) | set(vocab["terrain"])
    unknown = sorted(kinds - handled)
    if unknown:
        naming = [n for n, r in vocab["naming"].items() if set(unknown) <= set(r["kinds"]) | set(vocab["terrain"])]
        hint = f"; naming rules that name them: {', '.join(naming)}" if naming else \
            f"; the teacher's vocabulary has options for: {', '.join(vocab['kinds'])}"
        raise UserError(f"task {task['name']}: its world holds {', '.join(unknown)}, which the teacher cannot act on "
                        f"with naming rule {rule_name} (it names {', '.join(naming_rule(rule_name)['kinds'])}){hint}")
    if moving:
        raise UserError(f"task {task['name']}: objects move by themselves in {task['env_id']}, but the teacher's "
                        "memory map assumes the world changes only where the agent sees it")
