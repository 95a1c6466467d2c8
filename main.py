"""LLM4Teach: an LLM as a policy teacher for a PPO student on MiniGrid.

    python main.py train --task SimpleDoorKey
    python main.py eval  --task SimpleDoorKey --loaddir log/ppo/SimpleDoorKey/<run>-0
    python main.py eval  --task SimpleDoorKey --eval_teacher
    python main.py plot  log/ppo/SimpleDoorKey --out curves.png
    python main.py sweep --tasks all --seeds 0 1 --variants llm4teach ppo --logdir log/paper
    python main.py tasks

The command line only: every setting is a field of algos.config.Config (flags are made from those fields); the
work is done by library functions (algos.run: train, evaluate; algos.experiments: sweep, plot) that return data.
Exit status: 0 ok, 2 bad input (one `error: ...` line), 1 a worker process died, 128 + N stopped by signal N.
"""
import argparse
import os
import signal
import sys
import threading

from utils.errors import Interrupted, UserError, WorkerError


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2), like every other user error of this program."""

    def error(self, message):
        print(f"error: {message} (see: python {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def build_parser():
    from algos.config import Config
    from algos.experiments.sweep import SweepOptions
    from utils.options import add_arguments
    from algos.experiments.plot import add_plot_arguments
    parser = Parser(prog="main.py", description="LLM4Teach: an LLM as a policy teacher for RL")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_arguments(sub.add_parser("train", help="train a student (PPO + teacher term)"), Config, "train")
    add_arguments(sub.add_parser("eval", help="evaluate a trained student or the teacher alone"), Config, "eval")
    sweep = add_arguments(sub.add_parser("sweep", help="tasks x seeds x variants on Ray, then the results tables"),
                          Config, "sweep")
    add_arguments(sweep, SweepOptions, "sweep")
    add_plot_arguments(sub.add_parser("plot", help="learning curves of runs"))
    sub.add_parser("tasks", help="the tasks: configured ones, and the registered MiniGrid ids the teacher can act in")
    return parser


def say(text, err=False):
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


def run_train(config, given, ns=None):
    from algos.run.run_loop import budget_advice
    from algos.run.train import train_seeds
    from planner.live.stats import summary_line
    for r in train_seeds(config, given):
        if r.trained == 0 and r.finished:
            say(f"run {r.run_dir} already has {r.iterations} iterations and {r.env_steps} env steps (--n_itr "
                f"{r.config.n_itr}, --max_env_steps {r.config.max_env_steps}): nothing to do; "
                f"{budget_advice(r.config, r.iterations, r.env_steps)}")
            continue
        best = "n/a" if r.best_eval is None else r.best_eval[0]
        state = "stopped" if r.stopped_by else "done"
        say(f"{state} {r.run_dir}: {r.iterations} iterations, {r.env_steps} env steps, best eval success {best}; "
            f"{summary_line(r.planner_stats)}")
        if r.stopped_by:
            say(f"stopped by {r.stopped_by} after iteration {r.iterations}: checkpoint saved; continue with: "
                f"python main.py train --resume {r.run_dir}", err=True)
            return 128 + getattr(signal, r.stopped_by, signal.SIGINT)
    return 0


def run_eval(config, given, ns=None):
    from algos.run.evaluate import evaluate, result_file
    from planner.live.stats import summary_line
    r = evaluate(config, given)
    for line in ([f"video: {r.video}"] if r.video else []) + r.lines(config.num_eval):
        say(line)
    if r.out_dir:
        say(f"results: {result_file(r.out_dir, r.who)}")
    if r.who == "teacher":
        say(f"teacher: {summary_line(r.planner_stats)}")
        others = r.teacher_measurements - 1
        say(f"teacher alone: {r.teacher_file}" + (f" (kept beside {others} measurement{'s' if others != 1 else ''}"
                                                   f" of other teachers or episodes)" if others else ""))
    return 0


def run_sweep(config, given, ns):
    from algos.experiments.sweep import SweepOptions, sweep
    from utils.options import from_namespace
    result = sweep(config, from_namespace(ns, SweepOptions, "sweep")[0], given)
    say(f"results: {result.csv} {result.markdown} " + " ".join(result.figures))
    if result.unevaluated:
        say(f"note: {result.unevaluated} run(s) unfinished, without a held-out final evaluation (rerun without --report)")
    if result.failed:
        raise UserError(f"{result.failed} of {len(result.runs)} runs failed (their lines above say why)")
    return 130 if result.stopped else 0


def run_tasks():
    from planner.task_list import report
    say("\n".join(report()))
    return 0


def _on_sigterm(signum, frame):
    raise Interrupted(signum)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    old_sigterm = None
    if threading.current_thread() is threading.main_thread():  # SIGTERM ends like Ctrl-C: cleaned up, one line
        old_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        ns = build_parser().parse_args(argv)
        if ns.command == "plot":
            from algos.experiments.plot import run_plot
            return run_plot(ns)
        if ns.command == "tasks":
            return run_tasks()
        from algos.config import Config
        from utils.options import from_namespace
        config, given = from_namespace(ns, Config, ns.command)
        return {"train": run_train, "eval": run_eval}.get(ns.command, run_sweep)(config, given, ns)
    except (UserError, WorkerError) as e:  # bad input: 2; a worker process died: 1
        say(f"error: {e}", err=True)
        return 2 if isinstance(e, UserError) else 1
    except KeyboardInterrupt as e:
        say(getattr(e, "detail", None) or "interrupted", err=True)
        return getattr(e, "exit_status", 130)
    finally:
        if old_sigterm is not None:
            signal.signal(signal.SIGTERM, old_sigterm)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        status = main()
    except KeyboardInterrupt:  # a Ctrl-C in the last instants (after main's own handling)
        sys.stderr.write("interrupted\n")
        status = 130
    except BrokenPipeError:  # our stdout was closed by its reader (`main.py eval ... | head`): end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # exiting anyway: a late Ctrl-C must not kill us mid-exit
    sys.exit(status)
