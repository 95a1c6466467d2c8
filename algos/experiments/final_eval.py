"""The held-out final evaluation of a sweep's runs: a finished student, and the teacher alone, on `final_eval`
episodes from env seed `final_env_seed` (used by neither training nor the periodic evaluation).

    evaluate_final(run, options, iterations) -> overall     also written to <run>/final_eval.json
    evaluate_teacher(run, options) -> overall               also written to <task folder>/teacher_eval.json
"""
import dataclasses
import json
import os
import time

from algos.config import Config
from algos.run.evaluate import evaluate
from utils.atomic import atomic_write
from algos.experiments.results import FINAL_EVAL
from utils.run_dir import run_dir_path


def final_eval_file(run_dir):
    return os.path.join(run_dir, FINAL_EVAL)


def evaluate_final(run, options, iterations):
    """The final student of a finished run (at `iterations`) on the held-out episodes -> final_eval.json."""
    run_dir = run_dir_path(run.logdir, run.task, run.savedir, run.seed)
    r = evaluate(dataclasses.replace(Config(), task=run.task, logdir=run.logdir, loaddir=run_dir,
                                     num_eval=options.final_eval, env_seed_list=[options.final_env_seed],
                                     device=run.device, video=0), given={})
    data = {k: v for k, v in dataclasses.asdict(r).items() if k != "episodes"}
    data.update(iterations=iterations, evaluated_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
    atomic_write(final_eval_file(run_dir), json.dumps(data, indent=2) + "\n", what="final evaluation")
    return r.overall


def evaluate_teacher(run, options):
    """The teacher alone on the same held-out episodes -> <task folder>/teacher_eval.json."""
    r = evaluate(dataclasses.replace(run, eval_teacher=True, loaddir=None, num_eval=options.final_eval,
                                     env_seed_list=[options.final_env_seed], video=0, savedir=None), given={})
    return r.overall
