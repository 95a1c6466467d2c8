"""Evaluation: one episode in each of `num_eval` held-out environments, stepped together.

The student samples from its policy (stochastic, as in the official evaluation); the teacher samples from its
distribution (one-hot in hard mode)."""
import numpy as np
import torch

from algos.vec_env import EnvGroup


def eval_seeds(env_seed, num_eval):
    return [env_seed + i for i in range(num_eval)]


def run_episodes(group, choose_actions, on_step=None):
    """Run each env of `group` for exactly one episode; choose_actions(obs, teacher_probs, starts) -> actions.
    Returns a list of (return, length, success) in env order."""
    n = len(group.envs)
    group.first_seeds = list(group.seeds)
    group.reset_all()
    arr = group.arrays
    results = [None] * n
    starts = np.ones(n, dtype=bool)
    while any(r is None for r in results):
        actions = choose_actions(arr["obs"], arr["teacher"], starts)
        if on_step is not None:
            on_step(actions)
        group.step(actions)
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


def student_chooser(model, device, generator=None):
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
        cum = teacher.cumsum(axis=1)
        u = rng.random((teacher.shape[0], 1)) * cum[:, -1:]
        return np.minimum((u > cum).sum(axis=1), teacher.shape[1] - 1)
    return choose


def make_eval_group(env_id, seeds, spec, use_teacher, env_kwargs=None, frame_stack=1):
    group = EnvGroup(env_id, seeds, [[s, 7] for s in seeds], spec, env_kwargs=env_kwargs, frame_stack=frame_stack)
    group.set_teacher(use_teacher)
    return group


def record_video(path, env_id, seeds, spec, use_teacher, frame_stack, make_chooser, fps=8):
    """One episode per seed, drawn as the teacher sees the world (unseen cells greyed), into one GIF/MP4.
    Every step is one frame, with a status line (episode, step, return) under it. Returns the results."""
    from utils.video import VideoRecorder, add_status_strip, render_memory_frame
    results = []
    with VideoRecorder(path, fps=fps) as recorder:
        for episode, seed in enumerate(seeds):
            group = make_eval_group(env_id, [seed], spec, use_teacher=use_teacher, frame_stack=frame_stack)
            env, step = group.envs[0], [0]

            def grab(actions):
                ret = group.returns[0]
                recorder.add(add_status_strip(render_memory_frame(env), f"ep {episode + 1} step {step[0]} return {ret:.2f}"))
                step[0] += 1
            try:
                results += run_episodes(group, make_chooser(seed), on_step=grab)
            finally:
                group.close()
    return results
