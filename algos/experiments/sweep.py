"""Sweeps: every (task, seed, variant) as an ordinary run in <logdir>/ppo/<Task>/<variant>-<seed>/, run on Ray,
then the results tables and one figure per task.

    sweep(config, SweepOptions(tasks=["all"], seeds=[0, 1], variants=["llm4teach", "ppo"])) -> SweepResult

A local Ray is started for the sweep (as many runs at once as there are CPUs, --cpus_per_run each, one torch
thread per CPU), or `ray_address` joins a cluster (the runs write to --logdir as the driver names it: give a
path on storage every node shares). A run that has finished is not trained again; an interrupted one resumes from
its checkpoint. Ctrl-C (or SIGTERM) asks every run to finish its iteration and checkpoint, and a queued run not to
start (a second one stops at once). A --cpus_per_run no node has is refused before Ray starts.
Each finished student is evaluated on `final_eval` held-out episodes (env seeds from `final_env_seed`, used by
neither training nor the periodic evaluation), and the teacher alone on the same episodes (algos/experiments/final_eval.py).
Ray's side, the runs as tasks, is algos/experiments/sweep_ray.py (which imports nothing from here).
"""
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Optional

from algos.config import Config, default, sb3_unused
from utils.errors import UserError
from utils.options import SEED, from_dict, integers, numbers, option, settings

SWEEP = ("sweep",)
VARIANTS = {"llm4teach": {}, "llm4teach_soft": {"soft_planner": True}, "ppo": {"teacher_coef": 0.0},
            "sb3_ppo": {"policy": "sb3_ppo", "teacher_coef": 0.0},  # the zoo-tuned plain PPO (algos/run/sb3_trainer.py)
            "sb3_ppo_ego": {"policy": "sb3_ppo", "teacher_coef": 0.0, "sb3_obs": "egocentric"},  # as the zoo wraps it
            "ppo_count": {"teacher_coef": 0.0, "count_bonus": 0.005}}  # with an exploration bonus (count_bonus.py)


@dataclass
class SweepOptions:
    section = "sweep (every train flag above applies to every run)"

    tasks: list[str] = option(["all"], "tasks to run ('all': the four tasks)", commands=SWEEP, metavar="TASK")
    seeds: list[int] = option([0], "seeds: one run per task, variant and seed", commands=SWEEP, check=SEED)
    variants: list[str] = option(["llm4teach", "ppo"], f"{', '.join(VARIANTS)}, or a --variants_file name",
                                 commands=SWEEP, metavar="NAME")
    variants_file: Optional[str] = option(None, "JSON file of more variants: {\"name\": {\"setting\": value, ...}}",
                                          commands=SWEEP, metavar="FILE")
    task_settings: Optional[list[str]] = option(
        None, "one task's settings over the variant's, e.g. TwoDoor:precision=bf16", commands=SWEEP,
        metavar="TASK:SETTING=VALUE")
    ray_address: Optional[str] = option(None, "join this Ray cluster (e.g. auto, or ray://HEAD:10001) instead of "
                                              "starting a local Ray", commands=SWEEP, metavar="ADDRESS")
    num_cpus: int = option(0, "CPUs of the local Ray (0: every core)", commands=SWEEP, check=integers(0))
    cpus_per_run: int = option(1, "CPUs (and torch threads) of each run", commands=SWEEP, check=integers(1, 256))
    final_eval: int = option(100, "held-out episodes of each final evaluation (student and teacher)",
                             commands=SWEEP, check=integers(1, 100_000))
    final_env_seed: int = option(2_000_000, "env seed of the first final-evaluation episode", commands=SWEEP,
                                 check=SEED)
    threshold: float = option(0.9, "success rate for the 'env steps to' column", commands=SWEEP,
                              check=numbers(0, 1))
    report: bool = option(False, "only make the tables and figures from the runs in --logdir", commands=SWEEP)


@dataclass
class SweepResult:
    runs: list = field(default_factory=list)      # one dict per run: task, variant, seed, status, message, ...
    csv: str = ""
    markdown: str = ""
    figures: list = field(default_factory=list)
    stopped: bool = False
    failed: int = 0
    unevaluated: int = 0                           # runs in the tables without a held-out final evaluation


def load_variants(options):
    """{name: {setting: value}} of the variants asked for (built-in and from the variants file)."""
    known = dict(VARIANTS)
    if options.variants_file:
        from utils.json_file import load_json
        extra = load_json(options.variants_file, "variants file")
        if not isinstance(extra, dict) or not all(isinstance(v, dict) for v in extra.values()):
            raise UserError(f"variants file {options.variants_file}: expected {{\"name\": {{\"setting\": value}}}}")
        for name, values in extra.items():
            from utils.run_dir import plain_name
            plain_name(name, "variant")
            unknown = sorted(set(values) - {f.name for f in dataclasses.fields(Config)})
            if unknown:
                raise UserError(f"variants file {options.variants_file}: variant {name}: unknown setting "
                                f"{', '.join(unknown)}")
            identity = sorted(set(values) & set(RUN_IDENTITY))
            if identity:
                raise UserError(f"variants file {options.variants_file}: variant {name}: the sweep sets "
                                f"{', '.join(identity)} of each run itself")
            if name in VARIANTS:
                raise UserError(f"variants file {options.variants_file}: variant {name} is a built-in variant; "
                                f"give yours another name")
            known[name] = values
    missing = [v for v in options.variants if v not in known]
    if missing:
        raise UserError(f"unknown variant {', '.join(missing)}; known: {', '.join(known)}")
    return {v: known[v] for v in dict.fromkeys(options.variants)}


RUN_IDENTITY = ("task", "seed", "seed_list", "savedir", "logdir", "resume", "fork")  # the sweep sets these


def load_task_settings(options, tasks):
    """{task: {setting: value}} from --task_settings TASK:SETTING=VALUE: each task one of the sweep's, each setting
    a train flag; the value is read as JSON (0.05, true, [1, 2]) or else taken as text, and checked with the run."""
    import json
    from planner.task_spec import task_config
    fields = settings(Config, "sweep")
    names = {f.name for f, *_ in fields}
    text = {f.name for f, scalar, is_list, _ in fields if scalar is str and not is_list}
    out = {}
    for item in options.task_settings or []:
        task, colon, assignment = item.partition(":")
        name, equals, written = assignment.partition("=")
        if not (colon and equals and task and name):
            raise UserError(f"--task_settings {item}: expected TASK:SETTING=VALUE, e.g. TwoDoor:precision=bf16")
        task = task_config(task)["name"]
        if task not in tasks:
            raise UserError(f"--task_settings {item}: {task} is not a task of this sweep ({', '.join(tasks)})")
        if name in RUN_IDENTITY:
            raise UserError(f"--task_settings {item}: the sweep sets {name} of each run itself")
        if name not in names:
            raise UserError(f"--task_settings {item}: no setting {name} (the settings: main.py sweep --help)")
        if name in text:
            value = written
        else:
            try:
                value = json.loads(written)
            except ValueError:
                value = written  # a word where a number was expected: the run's check names the setting
        out.setdefault(task, {})[name] = value
    return out


def plan_runs(config, options, given):
    """[(task, variant, seed, run Config)] of the sweep, every run's settings checked."""
    from planner.task_spec import task_config, task_names
    for flag in ("savedir", "seed_list", "resume"):
        if flag in given:
            raise UserError(f"--{flag}: a sweep names its runs <variant>-<seed> itself (use --variants, --seeds)")
    tasks = task_names() if [t.lower() for t in options.tasks] == ["all"] else \
        list(dict.fromkeys(task_config(t)["name"] for t in options.tasks))
    variants = load_variants(options)
    per_task = load_task_settings(options, tasks)
    logdir = os.path.abspath(config.logdir)
    runs = []
    for task in tasks:
        for variant, variant_settings in variants.items():
            own = {**variant_settings, **per_task.get(task, {})}
            where = f"variant {variant}" + (f", --task_settings of {task}" if task in per_task else "")
            for seed in options.seeds:
                data = {**dataclasses.asdict(config), "task": task, "seed": seed, "seed_list": [seed],
                        "savedir": variant, "logdir": logdir, **own}
                if data.get("policy") == "sb3_ppo":  # the zoo's hyperparameters, not the sweep's PPO or teacher ones
                    data.update({name: default(name) for name in sb3_unused() if name not in own})
                if "workers" not in given and "workers" not in own:  # a run has its CPU share, not the machine
                    data["workers"] = 0 if options.cpus_per_run <= 2 else options.cpus_per_run // 2
                run = from_dict(Config, data, where)
                run.validate()
                runs.append((task, variant, seed, run))
    return runs


def sweep(config, options, given=None):
    """Run (or, with options.report, only report) the sweep; returns what happened and where the tables are."""
    given = given or {}
    runs = plan_runs(config, options, given)
    result = SweepResult()
    if not options.report:
        from algos.experiments.sweep_ray import check_cpus, run_all
        if not options.ray_address:  # a cluster's nodes are known once joined (sweep_ray.run_all checks them)
            from utils.cpu_share import cpu_cores
            cpus = options.num_cpus or cpu_cores()
            check_cpus(options, cpus, f"--num_cpus {cpus}" if options.num_cpus else
                       f"this machine's {cpus} CPU cores")
        result.runs, result.stopped = run_all(runs, options, given)
        result.failed = sum(r["status"] == "failed" for r in result.runs)
    report(config.logdir, runs, options, result)
    return result


def report(logdir, runs, options, result):
    """results.csv, results.md and <Task>.png in logdir from the run folders of `runs`."""
    from algos.experiments.plot import load_run, plot_runs
    from algos.experiments.results import run_row, teacher_results, write_results
    from utils.run_dir import run_dir_path, task_dir
    rows, in_table, dirs = [], [], {}
    for task, variant, seed, run in runs:
        path = run_dir_path(run.logdir, task, variant, seed)
        if os.path.isfile(os.path.join(path, "metrics.csv")):
            try:
                rows.append(run_row(path, options.threshold))
            except UserError:  # a run that never finished an iteration
                continue
            in_table.append((task, variant, task_dir(os.path.abspath(logdir), task), run))
            try:
                load_run(path)
            except UserError:  # in the table, but no curve yet: no episode has ended (a sweep stopped early)
                continue
            dirs.setdefault(task, []).append(path)
    if not rows:
        raise UserError(f"no run of this sweep has results in {logdir} yet")
    result.unevaluated = sum(row.final_success is None for row in rows)
    teachers = teacher_results(in_table, [options.final_env_seed], options.final_eval)  # the runs' own teachers
    result.csv, result.markdown = write_results(logdir, rows, teachers, options.threshold)
    for task, paths in dirs.items():
        out, _ = plot_runs(paths, out=os.path.join(logdir, f"{task}.png"))
        result.figures.append(out)
    return result

