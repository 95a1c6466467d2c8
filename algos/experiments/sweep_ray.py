"""A sweep's runs as Ray tasks: one task per run (train or resume, then the final evaluation), one per task for the
teacher alone; progress lines as runs finish; Ctrl-C turns into a stop file every run polls each iteration."""
import dataclasses
import os
import signal
import sys
import uuid

from algos.experiments.final_eval import evaluate_final, evaluate_teacher
from algos.experiments.results import read_final_eval
from algos.run.teacher_eval import find_teacher_eval, teacher_groups, teacher_label
from utils.errors import UserError
from utils.options import resumable
from utils.run_dir import run_dir_path, task_dir

STOP_FILE = ".sweep-stop"  # a prefix: each sweep adds "-<random id>", so sweeps sharing a logdir stop apart
NOT_STARTED = "not started (the sweep was stopped)"


def check_cpus(options, cpus, what):
    """UserError (before a local Ray starts) when no run could ever be scheduled: each needs --cpus_per_run CPUs
    of one node, and the largest has `cpus` (`what` says so in words, e.g. "--num_cpus 1")."""
    if options.cpus_per_run > cpus:
        raise UserError(f"--cpus_per_run {options.cpus_per_run} is more than {what}: no run could ever start "
                        f"(give --cpus_per_run {cpus} or less)")


def largest_node_cpus(nodes):
    """The CPUs of the largest live node of a Ray cluster (ray.nodes())."""
    return int(max((n.get("Resources", {}).get("CPU", 0) for n in nodes if n.get("Alive")), default=0))


def _threads(cpus):
    os.environ["OMP_NUM_THREADS"] = str(cpus)  # fixed threads: utils.cpu_share then leaves them alone
    import torch
    torch.set_num_threads(cpus)


def run_one(run, options, given, stop_file):
    """Train (or resume) one run to its budget, then evaluate its final student. Returns a plain dict."""
    from algos.config import Config
    from algos.run.train import train
    run_dir = run_dir_path(run.logdir, run.task, run.savedir, run.seed)
    out = {"task": run.task, "variant": run.savedir, "seed": run.seed, "run_dir": run_dir}
    stop = (lambda: "stop" if os.path.exists(stop_file) else None)
    if stop():  # queued when the sweep was stopped: it ends now, untouched
        return {**out, "status": "stopped", "message": NOT_STARTED}
    _threads(options.cpus_per_run)
    try:
        if os.path.isfile(os.path.join(run_dir, "checkpoints", "latest.pt")):
            changes = {k: v for k, v in given.items() if k in resumable(Config)}
            result = train(dataclasses.replace(run, resume=run_dir), changes, show_progress=False, stop=stop)
        else:
            _set_aside_unfinished(run_dir)
            result = train(run, {}, show_progress=False, stop=stop)
        out.update(iterations=result.iterations, env_steps=result.env_steps, trained=result.trained)
        if result.stopped_by:
            return {**out, "status": "stopped", "message": result.resume_hint}
        final = read_final_eval(run_dir)
        if final is None or final.get("iterations") != result.iterations:
            overall = evaluate_final(run, options, result.iterations)
        else:
            overall = final["overall"]
        status = "finished" if result.trained else "done before"
        return {**out, "status": status, "final_success": overall["success"], "message": ""}
    except UserError as e:
        return {**out, "status": "failed", "message": str(e)}


def _set_aside_unfinished(run_dir):
    """A run folder without a checkpoint (killed before its first save) cannot resume: keep it aside, start anew."""
    if os.path.isdir(run_dir) and os.listdir(run_dir):
        import time
        os.replace(run_dir, f"{run_dir}.unfinished-{time.strftime('%Y%m%d-%H%M%S')}")


def teacher_one(run, options, stop_file, who="teacher"):
    """The teacher of `run` alone on the held-out episodes (-> the task's teacher_eval.json), as a result dict."""
    out = {"task": run.task, "variant": who, "seed": "-"}
    if os.path.exists(stop_file):
        return {**out, "status": "stopped", "message": NOT_STARTED}
    _threads(options.cpus_per_run)
    try:
        overall = evaluate_teacher(run, options)
        return {**out, "status": "finished", "final_success": overall["success"], "message": ""}
    except UserError as e:
        return {**out, "status": "failed", "message": str(e)}


def _line(k, n, r):
    who = r["variant"] if r["seed"] == "-" else f"{r['variant']}-{r['seed']}"
    head = f"[{k}/{n}] {r['task']} {who}: {r['status']}"
    if r["status"] in ("finished", "done before"):
        steps = f", {r['env_steps']:,} env steps" if "env_steps" in r else ""
        return f"{head}{steps}, final success {r['final_success']:.2f}"
    return f"{head}: {r['message']}" if r.get("message") else head


def _get(ray, ref, refs):
    """A task's result dict; a task that raised (a bug, or a worker that died) becomes a failed result."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as e:
        task, variant, seed = refs.get(ref, ("?", "teacher", "-"))
        lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
        return {"task": task, "variant": variant, "seed": seed, "status": "failed",
                "message": (lines[-1] if lines else type(e).__name__)[:300]}


def teachers_to_measure(runs, options):
    """The distinct teachers of the runs (teacher_eval.teacher_groups, each with its "label") that the task folder's
    teacher_eval.json holds no measurement of on the held-out episodes (final_env_seed, final_eval)."""
    groups = teacher_groups([(task, variant, task_dir(run.logdir, task), run) for task, variant, _, run in runs])
    for group in groups:
        group["label"] = teacher_label(group, groups)
    return [g for g in groups
            if find_teacher_eval(g["folder"], g["teacher"], [options.final_env_seed], options.final_eval) is None]


def run_all(runs, options, given):
    """Run every (task, variant, seed) of `runs` on Ray; returns ([result dict], stopped)."""
    import ray
    from tqdm import tqdm
    logdir = runs[0][3].logdir
    os.makedirs(logdir, exist_ok=True)
    # one stop file per sweep: another sweep writing to the same logdir is neither stopped by this one's Ctrl-C nor
    # misses its own (a shared name was removed by whichever sweep ended first)
    stop_file = os.path.join(logdir, f"{STOP_FILE}-{uuid.uuid4().hex}")
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    unmeasured = teachers_to_measure(runs, options)
    if options.ray_address:
        ray.init(address=options.ray_address, log_to_driver=False, include_dashboard=False, configure_logging=False)
        try:
            cpus = largest_node_cpus(ray.nodes())
            check_cpus(options, cpus, f"the {cpus} CPUs of the largest node of the Ray cluster at "
                                      f"{options.ray_address}")
        except BaseException:
            ray.shutdown()
            raise
    else:
        from utils.cpu_share import cpu_cores
        os.environ.setdefault("RAY_worker_niceness", "0")  # the runs are the machine's main work, not background
        ray.init(num_cpus=options.num_cpus or cpu_cores(), log_to_driver=False, include_dashboard=False,
                 configure_logging=False)
    for sig, handler in handlers.items():  # Ray installs its own; Ctrl-C and SIGTERM stay ours
        if handler is not None:
            signal.signal(sig, handler)
    remote_run = ray.remote(run_one).options(num_cpus=options.cpus_per_run, max_retries=0)
    remote_teacher = ray.remote(teacher_one).options(num_cpus=options.cpus_per_run, max_retries=0)
    refs = {}
    for group in unmeasured:  # each teacher of the runs not yet measured on the held-out episodes (teacher_eval.json)
        who = "teacher" if group["label"] == "teacher alone" else group["label"].replace("teacher alone", "teacher")
        refs[remote_teacher.remote(group["config"], options, stop_file, who)] = (group["task"], who, "-")
    for task, variant, seed, run in runs:
        refs[remote_run.remote(run, options, given, stop_file)] = (task, variant, seed)
    pending = list(refs)
    total, results, stopped = len(pending), [], False
    bar = tqdm(total=total, unit="run", file=sys.stderr, disable=not sys.stderr.isatty())

    def collect_results():  # each result as it lands, with its line: a signal is acted on within a second
        nonlocal pending
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for ref in done:
                results.append(_get(ray, ref, refs))
                bar.update(1)
                bar.write(_line(len(results), total, results[-1]), file=sys.stdout)
    try:
        try:
            collect_results()
        except KeyboardInterrupt:
            stopped = True
            open(stop_file, "w").close()
            bar.write("stopping: every run finishes its iteration and writes a checkpoint, a queued one does not "
                      "start (Ctrl-C again: stop at once); run the same command again to continue", file=sys.stderr)
            try:
                collect_results()
            except KeyboardInterrupt:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise
    finally:
        bar.close()
        ray.shutdown()
        if os.path.exists(stop_file):
            os.unlink(stop_file)
    stopped = stopped or any(r["status"] == "stopped" for r in results)
    return results, stopped
