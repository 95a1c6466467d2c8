"""`main.py plot RUN_DIR... --out curves.png`: learning curves of several runs, mean ± std over seeds.

A RUN_DIR is a run folder (log/ppo/<Task>/<run_name>-<seed>/ with a metrics.csv), or any folder above runs
(a task folder, log/): every folder below it holding a metrics.csv is a run. Runs are grouped by task and run
name (the folder name without its trailing -<seed>); each group's seeds are interpolated onto a common x grid
(the range every seed covers) and drawn as mean line plus a ±std band. The y value is Test/Success Rate (or
Test/Return) where the run has evaluations, else the training value. The teacher-alone result of a task
(<task folder>/teacher_eval.json, written by `main.py eval --eval_teacher`) is a dashed horizontal line, one per
teacher of the runs (their config.json) that was measured: a measurement of another teacher is never drawn.
"""
import math
import os
import sys
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from utils.errors import UserError
from utils.logger import number
from utils.run_dir import logdir_of
from algos.experiments.run_files import find_runs, read_config, read_metrics, split_run_name
from algos.run.teacher_eval import find_teacher_eval, teacher_groups, teacher_label

METRICS = {
    # metric: (columns in order of preference, axis label, teacher_eval.json key)
    "success": (("Test/Success Rate", "Train/Success Rate"), "Success rate", "success_rate"),
    "return": (("Test/Return", "Train/Return Mean"), "Return", "mean_return"),
}
X_COLUMNS = {"env_steps": "Environment steps", "iteration": "Iteration", "wall_time": "Wall time (s)"}
N_GRID = 200


@dataclass
class Run:
    path: str
    task: str
    name: str
    seed: object
    column: str                  # the metrics.csv column the y values come from
    x: np.ndarray
    y: np.ndarray
    config: dict = field(default_factory=dict)

    @property
    def key(self):
        return (self.task, self.name)

    @property
    def uses_test(self):
        return self.column.startswith("Test/")


# ----------------------------------------------------------------------------------------------------------
# finding and reading runs
def load_run(run_dir, metric="success", x="env_steps"):
    """One run's curve: y from the preferred column that has values (Test/... before Train/...)."""
    if metric not in METRICS:
        raise UserError(f"unknown metric '{metric}'; choose from {', '.join(METRICS)}")
    if x not in X_COLUMNS:
        raise UserError(f"unknown x axis '{x}'; choose from {', '.join(X_COLUMNS)}")
    rows = read_metrics(run_dir)
    columns = METRICS[metric][0]
    for column in columns:
        pts = [(number(r.get(x)), number(r.get(column))) for r in rows]
        pts = [(a, b) for a, b in pts if a is not None and b is not None]
        if pts:
            break
    else:
        raise UserError(f"{os.path.join(run_dir, 'metrics.csv')} has no values for {' or '.join(columns)}")
    pts.sort(key=lambda p: p[0])
    xs = np.array([p[0] for p in pts], dtype=float)
    ys = np.array([p[1] for p in pts], dtype=float)
    config = read_config(run_dir)
    folder = os.path.basename(os.path.normpath(os.path.abspath(run_dir)))
    name, seed = split_run_name(folder)
    task = config.get("task") or os.path.basename(os.path.dirname(os.path.abspath(run_dir))) or "?"
    seed = config.get("seed", seed)
    return Run(path=run_dir, task=str(task), name=name, seed=seed, column=column, x=xs, y=ys, config=config)


def load_runs(paths, metric="success", x="env_steps", warn=None):
    """Runs below `paths`. A run folder named explicitly must have data (else UserError); empty runs found by
    searching a folder are skipped with a warning (they may have just started)."""
    warn = warn or (lambda text: print(f"warning: {text}", file=sys.stderr))
    runs = []
    for run_dir, explicit in find_runs(paths):
        try:
            runs.append(load_run(run_dir, metric, x))
        except UserError as e:
            if explicit:
                raise
            warn(f"skipped {e}")
    if not runs:
        raise UserError(f"no run with data under {', '.join(map(str, paths))}")
    return runs


def experiment_of(run):
    """The experiment a run belongs to: its log folder (log/paper for log/paper/ppo/<task>/<name>-<seed>)."""
    return os.path.relpath(logdir_of(run.path))


def group_runs(runs):
    """OrderedDict (task, run_name) -> [Run] in order of first appearance, seeds sorted. Runs of one name from
    different experiments (log folders) are not averaged together: their names then say the experiment."""
    experiments = {}
    for run in runs:
        experiments.setdefault(run.key, set()).add(experiment_of(run))
    groups = OrderedDict()
    for run in runs:
        name = run.name if len(experiments[run.key]) == 1 else f"{run.name} ({experiment_of(run)})"
        groups.setdefault((run.task, name), []).append(run)
    for members in groups.values():
        members.sort(key=lambda r: (not isinstance(r.seed, int), r.seed if isinstance(r.seed, int) else 0, str(r.seed)))
    return groups


# ----------------------------------------------------------------------------------------------------------
# statistics
def common_grid(curves, n_points=N_GRID):
    """x values every curve covers: from the latest first x to the earliest last x (when the curves share no
    range, the whole span, the ends held constant)."""
    lo = max(float(xs[0]) for xs, _ in curves)
    hi = min(float(xs[-1]) for xs, _ in curves)
    if hi > lo:
        return np.linspace(lo, hi, n_points)
    if hi == lo:
        return np.array([lo])
    return np.linspace(min(float(xs[0]) for xs, _ in curves), max(float(xs[-1]) for xs, _ in curves), n_points)


def aggregate(curves, n_points=N_GRID):
    """Mean and std (over curves, ddof=0) of the curves [(xs, ys)] linearly interpolated onto common_grid.
    Returns (grid, mean, std)."""
    if not curves:
        raise ValueError("no curves to aggregate")
    grid = common_grid(curves, n_points)
    values = np.stack([np.interp(grid, np.asarray(xs, float), np.asarray(ys, float)) for xs, ys in curves])
    return grid, values.mean(axis=0), values.std(axis=0)


def teacher_lines(runs, metric):
    """[(label, value)]: the teacher alone, one per distinct teacher of the runs that have one (their config.json),
    from their task folder's teacher_eval.json measurement of that very teacher (on the most episodes); a teacher
    never measured has no line."""
    key = METRICS[metric][2]
    groups = teacher_groups([(r.task, r.name, os.path.dirname(os.path.abspath(r.path)), r.config) for r in runs])
    lines = []
    for group in groups:
        measured = find_teacher_eval(group["folder"], group["teacher"])
        if measured is not None and number(str(measured.get(key, ""))) is not None:
            lines.append((f"{teacher_label(group, groups)}, {measured['num_eval']} ep", float(measured[key])))
    return lines


# ----------------------------------------------------------------------------------------------------------
# drawing
def plot_runs(paths, out="curves.png", metric="success", x="env_steps", title=None, dpi=120):
    """Draw the runs below `paths` into `out` (one panel per task); returns (out, groups)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    runs = load_runs(paths, metric, x)
    groups = group_runs(runs)
    tasks = list(OrderedDict.fromkeys(task for task, _ in groups))
    ncols = min(len(tasks), 3)
    nrows = math.ceil(len(tasks) / ncols)
    fig = Figure(figsize=(6.4 * ncols, 4.4 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    metric_label = METRICS[metric][1]
    for ax, task in zip(axes, tasks):
        task_groups = [(name, members) for (t, name), members in groups.items() if t == task]
        sources = set()
        for name, members in task_groups:
            grid, mean, std = aggregate([(r.x, r.y) for r in members])
            n = len(members)
            sources.update("test" if r.uses_test else "train" for r in members)
            label = f"{name} ({n} seed{'s' if n != 1 else ''})"
            n_test = sum(r.uses_test for r in members)
            if n_test == 0:
                label += " [training episodes]"
            elif n_test < n:
                label += f" [{n - n_test} of {n} from training episodes]"
            marker = "o" if len(grid) == 1 else None
            line, = ax.plot(grid, mean, label=label, linewidth=1.8, marker=marker)
            if n > 1:
                lo, hi = mean - std, mean + std
                if metric == "success":
                    lo, hi = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
                ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
        teachers = teacher_lines([r for _, members in task_groups for r in members], metric)
        for (label, teacher), style in zip(teachers, ("--", ":", "-.", (0, (5, 5)))):
            ax.axhline(teacher, color="black", linestyle=style, linewidth=1.2, label=f"{label} ({teacher:.2f})")
        ax.set_title(title or task)
        ax.set_xlabel(X_COLUMNS[x])
        which = {frozenset({"test"}): " (evaluation episodes)", frozenset({"train"}): " (training episodes)"}
        ax.set_ylabel(metric_label + which.get(frozenset(sources), ""))
        if x == "env_steps":
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        if metric == "success":
            ax.set_ylim(-0.03, 1.03)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small", title="mean ± std over seeds", title_fontsize="small")
    for ax in axes[len(tasks):]:
        ax.set_visible(False)
    out = figure_path(out)
    parent = os.path.dirname(os.path.abspath(out))
    try:
        os.makedirs(parent, exist_ok=True)
        fig.savefig(out, dpi=dpi)
    except ValueError as e:  # unknown image format
        raise UserError(f"cannot write {out}: {e}") from None
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror or e}") from None
    return out, groups


def figure_path(out):
    """The image file --out names: a folder (one that exists, or ending in /) gets curves.png in it; a name without
    an extension is a PNG (as matplotlib writes it)."""
    out = str(out)
    if os.path.isdir(out) or out.endswith(("/", os.sep)):
        return os.path.join(out, "curves.png")
    return out if os.path.splitext(out)[1] else out + ".png"


def add_plot_arguments(parser):
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                        help="run folders, or folders above them (a task folder, log/)")
    parser.add_argument("--out", default="curves.png", help="image file to write, or a folder for curves.png in it "
                                                            "(default: curves.png)")
    parser.add_argument("--metric", choices=sorted(METRICS), default="success",
                        help="y axis: success rate or return (test values where evaluated, else training)")
    parser.add_argument("--x", choices=list(X_COLUMNS), default="env_steps", help="x axis (default: env_steps)")
    parser.add_argument("--title", default=None, help="panel title (default: the task)")
    return parser


def run_plot(args):
    """`main.py plot`: draw the runs, print what was written; returns 0 (UserError on bad input)."""
    out, groups = plot_runs(args.run_dirs, out=args.out, metric=args.metric, x=args.x,
                            title=getattr(args, "title", None))
    summary = ", ".join(f"{task}/{name} x{len(members)}" for (task, name), members in groups.items())
    print(f"wrote {out} ({summary})")
    return 0  # main.py's exit status
