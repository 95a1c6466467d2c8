"""Whole episodes: one per environment of a pool, for evaluation (during training and after) and videos.

The student samples from its policy (stochastic, as the official evaluation); the teacher samples from its
distribution (one-hot in hard mode)."""
import numpy as np
import torch

from algos.vec_env.env_pool import EnvPool
from teacher.policy import sample_actions


TRAIN_SEED_SPAN = 1_000_000  # training env seeds stay below every evaluation seed (1,000,000+; final 2,000,000+)


def eval_seeds(env_seed, num_eval):
    return [env_seed + i for i in range(num_eval)]


def until_settled(run, env_seed, num_eval, max_episodes, min_episodes=0, stop=None):
    """run(seeds) on batches of num_eval evaluation episodes from env_seed: the next batch while fewer than
    min_episodes have run, or while not every episode so far has succeeded and it fits within max_episodes (a
    perfect record stops after one batch; one that never succeeds, or succeeds only sometimes, is measured on up to
    max_episodes, where a rate from a few episodes is least sure); all the episodes' results.
    stop(): asked before each batch; when it answers a reason, the measurement ends there (results so far)."""
    results = []
    while not results or len(results) < min_episodes or \
            (not all(r[2] for r in results) and len(results) + num_eval <= max_episodes):
        if stop is not None and stop():
            break
        results += run(eval_seeds(env_seed + len(results), num_eval))
    return results


def training_seeds(seed, n):
    """First-reset env seeds of a run's n training envs: seed * 100_003 + i (the official runs' seeds for seeds
    0-9), folded below TRAIN_SEED_SPAN, so a training episode never has an evaluation episode's layout."""
    base = (seed * 100_003) % (TRAIN_SEED_SPAN - n)
    return [base + i for i in range(n)]


def eval_pool(env_id, seeds, spec, use_teacher, frame_stack=1, mission_mark=False):
    """An in-process pool for evaluation episodes (teachers seeded apart from training's)."""
    pool = EnvPool(env_id, seeds, [[s, 7] for s in seeds], spec, frame_stack=frame_stack, mission_mark=mission_mark)
    pool.set_teacher(use_teacher)
    return pool


def run_episodes(pool, choose_actions, seeds, on_step=None):
    """One episode in each env of `pool` (env i reset with seeds[i]); choose_actions(obs, teacher_probs, starts)
    -> actions; on_step() after the reset and after every step. Returns [(return, length, success)] in env order."""
    pool.reset(seeds)
    if on_step is not None:
        on_step()
    arr = pool.arrays
    results = [None] * pool.n
    starts = np.ones(pool.n, dtype=bool)
    while any(r is None for r in results):
        pool.step(choose_actions(arr["obs"], arr["teacher"], starts))
        if on_step is not None:
            on_step()
        ended = arr["terminated"] | arr["truncated"]
        for i in np.nonzero(ended)[0]:
            if results[i] is None:
                results[i] = (float(arr["ep_return"][i]), int(arr["ep_length"][i]), bool(arr["ep_success"][i]))
        starts = ended.copy()
    return results


def summarise(results):
    returns = np.array([r[0] for r in results])
    lengths = np.array([r[1] for r in results])
    success = np.array([r[2] for r in results], dtype=float)
    return {"return": float(returns.mean()), "return_std": float(returns.std()), "length": float(lengths.mean()),
            "success": float(success.mean()), "episodes": len(results)}


def student_chooser(model, device):
    state = {"lstm": None}

    @torch.no_grad()
    def choose(obs, teacher, starts):
        obs_t = torch.from_numpy(np.ascontiguousarray(obs)).to(device)
        st = None
        if model.recurrent:
            st = state["lstm"] if state["lstm"] is not None else model.initial_state(obs.shape[0], device)
        logits, _, new_state = model(obs_t, st, torch.from_numpy(starts).to(device) if model.recurrent else None)
        state["lstm"] = new_state
        return model.distribution(logits).sample().cpu().numpy()
    return choose


def teacher_chooser(rng):
    def choose(obs, teacher, starts):
        return sample_actions(teacher, rng)
    return choose


def teacher_episode(env, teacher, choose, seed):
    """One episode of a bare env (reset with `seed`) whose teacher is asked at every step, for tools that look inside
    it: yields (teacher's distribution, action, obs, reward, terminated, truncated) after each step; the step's
    observation text is teacher.last_text. choose: a chooser above (the teacher's or a student's)."""
    obs, _ = env.reset(seed=seed)
    teacher.begin(env)
    for step in range(getattr(env, "max_steps", None) or env.max_episode_steps):
        probs = teacher.teach(env, obs)
        action = int(choose(obs[None], probs[None], np.array([step == 0]))[0])
        obs, reward, terminated, truncated, _ = env.step(action)
        yield probs, action, obs, reward, terminated, truncated
        if terminated or truncated:
            return


def record_video(path, env_id, seeds, spec, use_teacher, frame_stack, make_chooser, fps=8, mission_mark=False):
    """One episode per seed, drawn as the teacher sees the world (unseen cells greyed), into one GIF/MP4: the first
    frame and one frame per step, each with a status line (episode, step, return). Returns the results."""
    from utils.video import VideoRecorder, add_status_strip
    results = []
    with VideoRecorder(path, fps=fps) as recorder:
        for episode, seed in enumerate(seeds):
            pool = eval_pool(env_id, [seed], spec, use_teacher, frame_stack, mission_mark)
            pool.set_recording(True)
            step = [0]

            def grab():
                frame, ret = pool.frames()[0]
                recorder.add(add_status_strip(frame, f"ep {episode + 1} step {step[0]} return {ret:.2f}"))
                step[0] += 1
            try:
                results += run_episodes(pool, make_chooser(seed), [seed], on_step=grab)
            finally:
                pool.close()
    return results
