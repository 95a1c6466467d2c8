"""What `python main.py tasks` shows: the configured tasks (with the answer tables that teach each without a
server) and the registered minigrid environments the teacher can act in (any of them is a task by its id)."""
from planner.answer_tables import load_answers, shipped_names, task_table
from planner.world import check_world
from utils.errors import UserError
from planner.task_spec import all_tasks, registered_minigrid_id, task_config, task_names


def answer_tables(task):
    """Names of the shipped answer tables (--answers) that hold answers for `task`."""
    found = []
    for table in shipped_names():
        try:
            load_answers(task, table)
        except UserError:
            continue
        found.append(table)
    return found


def configured_tasks():
    """[{name, env_id, object_names, prompt, answers: [table names], default: the table --answers default reads}]
    of configs/tasks.json."""
    rows = []
    for name in task_names(group=None):
        task = task_config(name)
        rows.append({"name": name, "env_id": task["env_id"], "object_names": task["object_names"],
                     "prompt": task["prompt"], "answers": answer_tables(task),
                     "default": task_table(task)})
    return rows


def minigrid_tasks(prefix="MiniGrid-"):
    """(ids the teacher can act in, {id: why not}) of the registered minigrid environments whose id starts with
    `prefix`, configured ones left out."""
    import gymnasium
    configured = {cfg["env_id"] for cfg in all_tasks().values()}
    ok, refused = [], {}
    for env_id in sorted(gymnasium.registry):
        if not env_id.startswith(prefix) or env_id in configured or not registered_minigrid_id(env_id):
            continue
        try:
            check_world(task_config(env_id))
        except UserError as e:
            refused[env_id] = str(e).split(": ", 1)[-1]
            continue
        ok.append(env_id)
    return ok, refused


def report():
    """The lines `python main.py tasks` prints."""
    tasks = configured_tasks()
    lines = ["configured tasks (configs/tasks.json; answers: the --answers tables that teach them without a server, "
             "* the one read by default):"]
    width = {key: max((len(t[key]) for t in tasks), default=0) for key in ("name", "env_id", "object_names")}
    for t in tasks:
        tables = [name + ("*" if name == t["default"] else "") for name in t["answers"]]
        lines.append(f"  {t['name']:<{width['name']}}  {t['env_id']:<{width['env_id']}}  "
                     f"names {t['object_names']:<{width['object_names']}}  answers: "
                     f"{', '.join(tables) or 'none yet (a live LLM: --llm_url)'}")
    ok, refused = minigrid_tasks()
    lines += [f"any registered MiniGrid id is a task too (--task ID; naming rule and prompt 'minigrid', taught by a "
              f"live LLM or an answer table); the teacher can act in the worlds of these {len(ok)} (not every "
              "mission: see docs/tasks.md):", "  " + ", ".join(ok)]
    if refused:
        lines.append(f"refused ({len(refused)}; python main.py eval --task ID --eval_teacher says why): "
                     + ", ".join(refused))
    return lines + ["adding a task: docs/tasks.md"]
