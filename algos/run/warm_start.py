"""A run's warm start (--clone_steps): before its first iteration the teacher alone drives whole training episodes
(at least --clone_steps env steps, counted in the run's env steps), and the student's policy is fitted to the
teacher's action distributions on them for --clone_epochs passes (behaviour cloning, algos/learner/clone.py), as
kickstarting's and DQfD's pre-training on demonstrations; PPO with the teacher term then goes on from that policy.
The teacher is the run's own (--soft_planner: its plan mixture), asked as evaluation asks it (a live LLM is waited
for, so every step has a target); the episodes are training layouts (seeds below TRAIN_SEED_SPAN).

    summary, demos = warm_start(model, config, spec, device, score, run_dir)  # summary: steps, episodes, score,
        # kl per epoch, seconds (also run_dir/warm_start.json); demos: the steps to replay (--clone_replay) or None
"""
import json
import os
import time

import numpy as np

from algos.learner import clone
from algos.run.episodes import TRAIN_SEED_SPAN, eval_pool, run_episodes, teacher_chooser, training_seeds
from utils.atomic import atomic_write
from utils.errors import UserError

FIRST_SEED_OFFSET = 500_003  # demonstration layouts apart from the training envs' first resets
SUMMARY_FILE = "warm_start.json"
DEMOS_FILE = "demonstrations.npz"  # --clone_replay's steps, kept for a resume


def demonstration_seeds(seed, start, n):
    """The env seeds of demonstration episodes start .. start + n - 1 of a run seeded `seed`."""
    base = training_seeds(seed, 1)[0] + FIRST_SEED_OFFSET
    return [(base + i) % TRAIN_SEED_SPAN for i in range(start, start + n)]


def demonstrations(pool, steps, seed, rng):
    """The teacher driving batches of whole episodes (one per env of pool) until at least `steps` steps:
    (images (N, ...), targets (N, A) float32, starts (N,) bool, [(return, length, success)] per episode)."""
    eps, results, act = [], [], teacher_chooser(rng)
    while sum(len(e[0]) for e in eps) < steps:
        batch = [([], []) for _ in range(pool.n)]
        ended = np.zeros(pool.n, dtype=bool)

        def choose(obs, teacher, starts):
            nonlocal ended
            ended = ended | (starts & np.array([len(b[0]) > 0 for b in batch]))  # an env whose episode restarted
            for i in np.flatnonzero(~ended):
                batch[i][0].append(obs[i].copy())
                batch[i][1].append(np.array(teacher[i], dtype=np.float32))
            return act(obs, teacher, starts)
        results += run_episodes(pool, choose, demonstration_seeds(seed, len(results), pool.n))
        eps += batch
    images = np.concatenate([np.stack(e[0]) for e in eps])
    targets = np.concatenate([np.stack(e[1]) for e in eps])
    starts = np.concatenate([np.arange(len(e[0])) == 0 for e in eps])
    return images, targets, starts, results


def warm_start(model, config, spec, device, score="success", run_dir=None, optimizer=None, progress=None):
    """Demonstrations of config.clone_steps, the model fitted to them for config.clone_epochs at config.lr (with
    the run's own optimizer where given: PPO then goes on with Adam's moments of the cloning, not a fresh start
    whose first steps move every weight by about lr, cloned or not); what it did (the teacher's score on the
    demonstrations: their success rate, or mean return for a task scored so), written to run_dir/warm_start.json
    too when run_dir is given, and told to progress (a utils.progress.Progress)."""
    t0 = time.time()
    rng = np.random.default_rng(config.seed + 7)
    pool = eval_pool(spec.task["env_id"], demonstration_seeds(config.seed, 0, config.num_envs), spec, True,
                     config.frame_stack, config.mission_mark)
    try:
        images, targets, starts, results = demonstrations(pool, config.clone_steps, config.seed, rng)
    finally:
        pool.close()
    if not (targets.sum(1) > 0.5).all():
        raise RuntimeError("a demonstration step has no teacher distribution")
    t1 = time.time()
    kls = clone.fit(model, images, targets, starts, config.clone_epochs, config.lr, rng, device=device,
                    optimizer=optimizer)
    if config.clone_replay:
        demos = clone.Demonstrations(images, targets, starts, config.seed)
        if run_dir is not None:
            demos.save(os.path.join(run_dir, DEMOS_FILE))
    summary = {"steps": int(len(images)), "episodes": len(results),
               "score": float(np.mean([r[0] if score == "return" else r[2] for r in results])),
               "kl": [round(k, 4) for k in kls], "collect_seconds": round(t1 - t0, 1),
               "fit_seconds": round(time.time() - t1, 1)}
    if run_dir is not None:
        atomic_write(os.path.join(run_dir, SUMMARY_FILE), json.dumps(summary, indent=1))
    if progress is not None:
        progress.message(summary_line(summary, score))
    return summary, (demos if config.clone_replay else None)


def saved_demonstrations(run_dir, config, obs_shape, n_actions):
    """A resumed --clone_replay run's demonstrations (run_dir/demonstrations.npz); UserError when missing or not
    this run's."""
    path = os.path.join(run_dir, DEMOS_FILE)
    try:
        return clone.Demonstrations.load(path, obs_shape, n_actions, config.seed)
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"--clone_replay: the run's demonstrations cannot be read ({path}: {str(e)[:120]})") from None


def summary_line(summary, score):
    kl, seconds = summary["kl"], summary["collect_seconds"] + summary["fit_seconds"]
    return (f"warm start: the teacher drove {summary['steps']:,} env steps ({summary['episodes']} episodes, {score} "
            f"{summary['score']:.2f}); KL(teacher || student) on them {kl[0]:.2f} -> {kl[-1]:.2f} nats over "
            f"{len(kl)} epochs ({seconds:.0f} s)")
