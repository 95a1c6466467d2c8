"""Evaluation as a library call: `evaluate(config) -> EvalResult`, a trained student (config.loaddir) or the
teacher alone (config.eval_teacher), over num_eval episodes from each seed of env_seed_list.

--loaddir is a run folder, a checkpoint file, or a run name under <logdir>/ppo/<task>/ (the official form:
`--loaddir train` finds train-<seed>). With --savedir the results (<student|teacher>_eval.json) and videos go to
<logdir>/ppo/<task>/<savedir>-<seed>/.
"""
import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from algos.run.checkpoint import build_task_model, load_weights, saved_config
from algos.config import Config
from algos.run.episodes import eval_pool, eval_seeds, record_video, run_episodes, student_chooser, summarise, \
    teacher_chooser
from algos.vec_env.env_group import observation_shape
from algos.run.sb3_trainer import Sb3Student
from planner.factory import check_planner_inputs, preflight
from teacher.config import TeacherConfig
from teacher.policy import TeacherSpec
from utils.atomic import atomic_write
from utils.checkpoint_file import load_checkpoint, require_keys
from utils.errors import UserError
from utils.options import defaults
from utils.run_dir import check_log_dir, pick_device, plain_name, run_dir_path, task_dir
from planner.task_spec import task_config
from algos.run.teacher_eval import record_teacher_eval
from utils.video import check_video_path


@dataclass
class EvalResult:
    task: str
    who: str                                   # "student" or "teacher"
    per_seed: list                             # [{"env_seed", "return", "return_std", "length", "success", "episodes"}]
    overall: dict                              # the same over all episodes
    episodes: list = field(default_factory=list)  # [(return, length, success)] in order
    planner_stats: dict = field(default_factory=dict)
    checkpoint: Optional[str] = None
    video: Optional[str] = None
    out_dir: Optional[str] = None
    teacher_file: Optional[str] = None         # the task's teacher_eval.json (the teacher alone), and how many
    teacher_measurements: int = 0              # teachers x episodes it now holds

    def lines(self, num_eval):
        """What `main.py eval` prints: one line per env seed (episodes num_eval apart), then overall if several."""
        out = [f"{self.task} {self.who}, env seeds {s['env_seed']}..{s['env_seed'] + num_eval - 1}: mean return "
               f"{s['return']:.3f}, mean length {s['length']:.1f}, success rate {s['success']:.3f} over "
               f"{s['episodes']} episodes" for s in self.per_seed]
        o = self.overall
        if len(self.per_seed) > 1:
            out.append(f"overall: mean return {o['return']:.3f}, mean length {o['length']:.1f}, success rate "
                       f"{o['success']:.3f} over {o['episodes']} episodes")
        return out


def checkpoint_path(config, task_name):
    """The checkpoint file --loaddir/--loadmodel name (a file, a run folder, or a run name under the task folder)."""
    model = plain_name(config.loadmodel, "--loadmodel")
    name = model if model.endswith(".pt") else f"{model}.pt"
    where = config.loaddir
    if os.path.isfile(where):
        return where
    if not os.path.isdir(where):
        base = task_dir(config.logdir, task_name)
        candidates = [os.path.join(base, where)] + [run_dir_path(config.logdir, task_name, where, s)
                                                     for s in config.seed_list]
        where = next((c for c in candidates if os.path.isdir(c)), None) if os.sep not in str(config.loaddir) else None
        if where is None:
            raise UserError(f"--loaddir not found: {config.loaddir} (neither a folder nor a run name in {base})")
    return os.path.join(where, "checkpoints", name)


def load_student(config, task, device, given):
    """(model, checkpoint path, (frame_stack, mission_mark)) of the student to evaluate, every mismatch one UserError
    line; the
    model of an sb3_ppo run is an algos.run.sb3_trainer.Sb3Student."""
    path = checkpoint_path(config, task["name"])
    payload = load_checkpoint(path, map_location=device, require=("config",))
    saved = saved_config(payload, path)
    if saved.task.lower() != task["name"].lower():
        raise UserError(f"checkpoint is for task {saved.task}, not {task['name']}")
    if saved.policy == "sb3_ppo":
        return Sb3Student.load(path, saved, task, device), path, (1, False)
    require_keys(payload, path, ("model", "obs_shape"))
    for key in ("recurrent", "frame_stack", "mission_mark"):
        if key in given and given[key] != getattr(saved, key):
            raise UserError(f"--{key} {given[key]} does not match the checkpoint's {getattr(saved, key)} ({path})")
    shape = observation_shape(task["env_id"], saved.frame_stack, saved.mission_mark)
    model = build_task_model(saved, task["env_id"], shape, device)
    load_weights(model, payload, path, task["name"])
    model.eval()
    return model, path, (saved.frame_stack, saved.mission_mark)


def evaluate(config, given=None):
    """Evaluate the student in config.loaddir, or the teacher alone (config.eval_teacher). `given`: the settings
    written on the command line (default: those that differ from the defaults)."""
    if given is None:
        base = defaults(Config, "eval")
        given = {f.name: getattr(config, f.name) for f in dataclasses.fields(Config)
                 if getattr(config, f.name) != getattr(base, f.name)}
    config.validate()
    task = task_config(config.task)
    device = pick_device(config.device)
    out_dir = run_dir_path(config.logdir, task["name"], plain_name(config.savedir, "--savedir"), config.seed_list[0]) \
        if config.savedir else None
    if out_dir:
        check_log_dir(out_dir)
    who = "teacher" if config.eval_teacher else "student"
    video = None
    if config.video:  # checked now, not after the episodes
        video = config.video_path or os.path.join(out_dir or os.path.join(config.logdir, "videos"),
                                                  f"{task['name']}-{who}.gif")
        check_video_path(video)
    checkpoint, model, (frame_stack, mark) = None, None, (1, False)
    if config.eval_teacher:
        check_log_dir(task_dir(config.logdir, task["name"]))
        check_planner_inputs(config, task, task_dir(config.logdir, task["name"]))
        preflight(config)
        spec = TeacherSpec(task, config, task_dir(config.logdir, task["name"]))
    else:
        if not config.loaddir:
            raise UserError("eval needs --loaddir RUN (or --eval_teacher to evaluate the teacher alone)")
        model, checkpoint, (frame_stack, mark) = load_student(config, task, device, given)
        spec = TeacherSpec(task, TeacherConfig(answers=config.answers), has_teacher=False)  # the student acts alone
    sb3 = isinstance(model, Sb3Student)  # an sb3_ppo run's student
    if sb3 and video:
        raise UserError("--video: an sb3_ppo run's episodes are not drawn (give --video 0)")

    def make_chooser(seed):
        if model is None:
            return teacher_chooser(np.random.default_rng(seed))
        torch.manual_seed(seed)
        return student_chooser(model, device)

    if video:
        record_video(video, task["env_id"], eval_seeds(config.env_seed_list[0], config.num_eval)[:config.video], spec,
                     config.eval_teacher, frame_stack, make_chooser, mission_mark=mark)
    per_seed, episodes, stats = [], [], {}
    for env_seed in config.env_seed_list:
        seeds = eval_seeds(env_seed, config.num_eval)
        if sb3:
            torch.manual_seed(env_seed)
            try:
                results = model.episodes(seeds)
            finally:
                model.close()
        else:
            pool = eval_pool(task["env_id"], seeds, spec, config.eval_teacher, frame_stack, mark)
            try:
                results = run_episodes(pool, make_chooser(env_seed), seeds)
                stats = pool.planner_stats()
            finally:
                pool.close()
        per_seed.append({"env_seed": env_seed, **summarise(results)})
        episodes += results
    result = EvalResult(task["name"], who, per_seed, summarise(episodes), episodes, stats if model is None else {},
                        checkpoint, video, out_dir)
    _write(result, config)
    return result


def _write(result, config):
    """The teacher's result next to the task's runs (main.py plot draws it); with --savedir, <who>_eval.json."""
    if result.who == "teacher":  # beside the task's other measurements (of other teachers or episodes)
        result.teacher_file, result.teacher_measurements = record_teacher_eval(
            task_dir(config.logdir, result.task), dataclasses.replace(config, task=result.task), result.overall)
    if result.out_dir:
        data = {k: v for k, v in dataclasses.asdict(result).items() if k != "episodes"}
        atomic_write(result_file(result.out_dir, result.who), json.dumps(data, indent=2) + "\n", what="results")


def result_file(out_dir, who):
    return os.path.join(out_dir, f"{who}_eval.json")
