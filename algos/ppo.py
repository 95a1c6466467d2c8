"""PPO with the LLM4Teach teacher term, as two steps (torch-ac's shape): `collect` one iteration of experience,
then `PPO.update` on it.

Collection, the official way: fresh episodes in every env, the student's own sampled actions, the teacher's
distribution stored per step, until at least traj_per_itr episodes have ended and at least 2 x batch_size steps
were taken. Episodes still running then are cut and bootstrapped with the critic, like episodes cut by the time
limit. With rollout_steps > 0 (CleanRL's way) an iteration is that many steps in every env instead, and the
episodes go on into the next iteration (the student's LSTM state with them); only the first iteration of a
session, or one after the teacher was switched on or off, starts fresh episodes. The update:

loss = clipped policy loss + vf_coef * clipped value loss - ent_coef * entropy
       + coef * mean(-sum_a teacher(a|s) log pi(a|s))      (cross-entropy = forward KL up to a constant)

Settings are read from the run's Config by their flag names (lr, adam_eps, clip, vf_coef, ent_coef,
max_grad_norm, epochs, batch_size); the coefficient comes from the run's teacher schedule (algos/schedule.py).
"""
import math

import numpy as np
import torch
import torch.nn as nn

from minigrid.core.actions import Actions
from utils.errors import Diverged


class Rollout:
    """Time-major storage (T, N, ...) that grows by doubling; one batched student forward per step."""

    def __init__(self, n_envs, obs_shape, capacity=256):
        self.n, self.obs_shape = n_envs, tuple(obs_shape)
        self.carry = None  # (LSTM state, episode starts) where the pool's episodes go on (rollout_steps)
        self._alloc(capacity)

    def _alloc(self, capacity):
        old = getattr(self, "obs", None)
        n = self.n
        new = dict(obs=np.zeros((capacity, n) + self.obs_shape, np.uint8),
                   action=np.zeros((capacity, n), np.int64), logp=np.zeros((capacity, n), np.float32),
                   value=np.zeros((capacity, n), np.float32), reward=np.zeros((capacity, n), np.float32),
                   terminated=np.zeros((capacity, n), bool), truncated=np.zeros((capacity, n), bool),
                   start=np.zeros((capacity, n), bool), teacher=np.zeros((capacity, n, len(Actions)), np.float32),
                   boot_value=np.zeros((capacity, n), np.float32))
        if old is not None:
            for k, arr in new.items():
                arr[:self.capacity] = getattr(self, k)
        for k, arr in new.items():
            setattr(self, k, arr)
        self.capacity = capacity

    def ensure(self, t):
        if t >= self.capacity:
            self._alloc(self.capacity * 2)


@torch.no_grad()
def collect(model, pool, storage, device, config):
    """Fill `storage` with one iteration (>= config.traj_per_itr episodes ended, >= 2 x config.batch_size steps; or
    config.rollout_steps steps per env, going on from where the previous iteration left the pool's episodes unless
    storage.carry was cleared); returns (batch of tensors (T, N, ...), list of finished-episode (return, length,
    success))."""
    min_episodes, min_steps = config.traj_per_itr, 2 * config.batch_size
    arr = pool.arrays
    n = pool.n
    if config.rollout_steps > 0 and storage.carry is not None:
        state, starts = storage.carry
    else:
        pool.reset()
        state, starts = model.initial_state(n, device), np.ones(n, dtype=bool)
    init_state = None if state is None else tuple(s.clone() for s in state)
    episodes = []
    final_obs, final_where = [], []
    t = 0
    while True:
        storage.ensure(t)
        storage.obs[t] = arr["obs"]
        storage.teacher[t] = arr["teacher"]
        storage.start[t] = starts
        obs_t = torch.from_numpy(storage.obs[t]).to(device)
        logits, value, state = model(obs_t, state, torch.from_numpy(starts).to(device) if state is not None else None)
        dist = model.distribution(logits)
        action = dist.sample()
        storage.action[t] = action.cpu().numpy()
        storage.logp[t] = dist.log_prob(action).cpu().numpy()
        storage.value[t] = value.cpu().numpy()
        pool.step(storage.action[t])
        np.add(arr["reward"], arr["bonus"], out=storage.reward[t])   # the bonus is 0 unless --count_bonus
        storage.terminated[t] = arr["terminated"]
        storage.truncated[t] = arr["truncated"]
        ended = arr["terminated"] | arr["truncated"]
        for i in np.nonzero(ended)[0]:
            episodes.append((float(arr["ep_return"][i]), int(arr["ep_length"][i]), bool(arr["ep_success"][i])))
            if arr["truncated"][i] and not arr["terminated"][i]:
                final_obs.append(arr["final_obs"][i].copy())
                final_where.append((t, i))
        starts = ended.copy()
        t += 1
        if config.rollout_steps > 0:
            if t == config.rollout_steps:
                break
        elif len(episodes) >= min_episodes and t * n >= min_steps:
            break
    steps = t
    storage.carry = (state, starts) if config.rollout_steps > 0 else None
    # Bootstrap values: time-limit truncations use V(final obs); episodes cut by the iteration end use V(next obs).
    storage.boot_value[:steps] = 0.0
    if final_obs:
        v = _values(model, np.stack(final_obs), device)
        for (tt, i), vi in zip(final_where, v):
            storage.boot_value[tt, i] = vi
    running = ~(storage.terminated[steps - 1] | storage.truncated[steps - 1])
    next_value = _values(model, arr["obs"], device, state) if running.any() else np.zeros(n, np.float32)
    advantages, returns = gae(storage, steps, next_value, running, config.gamma, config.lam)
    batch = {
        "obs": storage.obs[:steps], "action": storage.action[:steps], "logp": storage.logp[:steps],
        "value": storage.value[:steps], "teacher": storage.teacher[:steps], "start": storage.start[:steps],
        "advantage": advantages, "return": returns,
    }
    batch = {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in batch.items()}
    batch["init_state"] = init_state
    return batch, episodes


def _values(model, obs, device, state=None):
    obs_t = torch.from_numpy(np.ascontiguousarray(obs)).to(device)
    if model.recurrent and state is None:
        state = model.initial_state(obs_t.shape[0], device)
    _, value, _ = model(obs_t, state)
    return value.cpu().numpy()


def gae(s, steps, next_value, running, gamma, lam):
    """GAE(lambda) advantages and returns. With lam = 1 (the default) the return is the discounted Monte-Carlo
    return bootstrapped only where an episode was cut, and advantage = return - V, as in the official code."""
    n = s.n
    adv = np.zeros((steps, n), np.float32)
    last = np.zeros(n, np.float32)
    for t in reversed(range(steps)):
        ended = s.terminated[t] | s.truncated[t]
        if t == steps - 1:
            nv = np.where(running, next_value, s.boot_value[t])
            cont = running.astype(np.float32)
        else:
            nv = np.where(ended, s.boot_value[t], s.value[t + 1])
            cont = (~ended).astype(np.float32)
        # terminated: no bootstrap (boot_value 0); truncated: V(final obs), but the GAE chain is cut either way
        delta = s.reward[t] + gamma * nv - s.value[t]
        last = delta + gamma * lam * cont * last
        adv[t] = last
    return adv, adv + s.value[:steps]


def learning_rate(config, iteration, env_steps=0):
    """lr, or with anneal_lr lr x (1 - the fraction of the budget used)."""
    if not config.anneal_lr:
        return config.lr
    used = iteration / config.n_itr
    if config.max_env_steps > 0:
        used = max(used, env_steps / config.max_env_steps)
    return config.lr * max(0.0, 1.0 - used)


def ppo_losses(logits, values, batch, idx, clip, coef, norm_adv=True, filter_advantage=False):
    """The named loss terms for one minibatch (flat indices idx into the flattened batch). filter_advantage: the
    teacher term imitates a sample only where its (raw GAE) advantage agrees with the teacher: the student took the
    teacher's most likely action and the outcome was at least as good as its critic expected, or it took another
    action and did worse; the other samples' terms are dropped (the binary advantage filter of Critic Regularized
    Regression, Wang et al. 2020, with the teacher's action as the one to clone)."""
    dist = torch.distributions.Categorical(logits=logits)
    action, old_logp, old_value = batch["action"][idx], batch["logp"][idx], batch["value"][idx]
    adv, ret, teacher = batch["advantage"][idx], batch["return"][idx], batch["teacher"][idx]
    raw_adv = adv
    if norm_adv:
        adv = (adv - batch["adv_mean"]) / (batch["adv_std"] + 1e-8)
    logp = dist.log_prob(action)
    log_ratio = logp - old_logp
    ratio = log_ratio.exp()
    policy_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip, 1 + clip)).mean()
    v_clipped = old_value + (values - old_value).clamp(-clip, clip)
    value_loss = torch.max((values - ret) ** 2, (v_clipped - ret) ** 2).mean()
    entropy = dist.entropy().mean()
    log_probs = torch.log_softmax(logits, dim=-1)
    zero = torch.zeros((), device=logits.device)
    teacher_loss = teacher_kl = imitated = zero
    if coef > 0:
        # samples without a teacher distribution (all zeros: a live LLM had not answered yet) are left out
        taught = teacher.sum(-1) > 0.5
        all_taught = batch.get("all_taught")  # decided once per batch by PPO.update
        mean = (lambda x: x.mean()) if (bool(taught.all()) if all_taught is None else all_taught) else \
            (lambda x: (x * taught).sum() / taught.sum().clamp(min=1))
        cross_entropy = -(teacher * log_probs).sum(-1)
        if filter_advantage:
            took_teachers = teacher.gather(-1, action[:, None]).squeeze(-1) >= teacher.max(-1).values - 1e-6
            keep = taught & (took_teachers == (raw_adv >= 0))
            teacher_loss = (cross_entropy * keep).sum() / taught.sum().clamp(min=1)
            imitated = (keep.sum() / taught.sum().clamp(min=1)).detach()
        else:
            teacher_loss = mean(cross_entropy)
        with torch.no_grad():  # KL(teacher || student) = cross-entropy - the teacher's entropy: still to learn
            teacher_kl = mean(cross_entropy) + mean(torch.special.xlogy(teacher, teacher).sum(-1))
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clipfrac = ((ratio - 1).abs() > clip).float().mean()
    return dict(policy=policy_loss, value=value_loss, entropy=entropy, teacher=teacher_loss, teacher_kl=teacher_kl,
                imitated=imitated, approx_kl=approx_kl, clipfrac=clipfrac)


class PPO:
    def __init__(self, model, config):
        self.model, self.config = model, config
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, eps=config.adam_eps)

    def update(self, batch, coef, lr=None, generator=None):
        """Epochs of shuffled minibatches (the last partial one dropped, as in the official code), at learning rate
        `lr` (default config.lr). Raises Diverged when a loss or a weight is not finite (the model is then not to be
        saved)."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr if lr is None else lr
        steps, n = batch["action"].shape
        adv = batch["advantage"].reshape(-1)
        batch = dict(batch, adv_mean=adv.mean(), adv_std=adv.std() if adv.numel() > 1 else torch.ones(()),
                     all_taught=bool((batch["teacher"].sum(-1) > 0.5).all()))
        logs = self._update_recurrent(batch, coef, generator) if self.model.recurrent else \
            self._update_flat(batch, steps * n, coef, generator)
        logs = _mean_logs(logs)
        bad = [k for k, v in logs.items() if not math.isfinite(v)]
        if bad or not all(torch.isfinite(p).all() for p in self.model.parameters()):
            raise Diverged(f"non-finite {', '.join(bad) or 'weights'} in the PPO update")
        return logs

    def _update_flat(self, batch, total, coef, generator):
        flat = {k: batch[k].reshape((total,) + batch[k].shape[2:])
                for k in ("obs", "action", "logp", "value", "advantage", "return", "teacher")}
        flat.update(adv_mean=batch["adv_mean"], adv_std=batch["adv_std"], all_taught=batch["all_taught"])
        size = min(self.config.batch_size, total)
        logs = []
        for _ in range(self.config.epochs):
            perm = torch.randperm(total, generator=generator).to(flat["action"].device)
            for start in range(0, total - size + 1, size):
                idx = perm[start:start + size]
                logits, values, _ = self.model(flat["obs"][idx])
                logs.append(self._step(logits, values, flat, idx, coef))
        return logs

    def _update_recurrent(self, batch, coef, generator):
        """Minibatches of whole env columns (full sequences with their episode starts), as in CleanRL's LSTM PPO."""
        steps, n = batch["action"].shape
        n_mb = max(1, min(n, (steps * n) // self.config.batch_size))
        h0, c0 = batch["init_state"]
        logs = []
        for _ in range(self.config.epochs):
            cols = torch.randperm(n, generator=generator)
            for part in cols.chunk(n_mb):
                part = part.to(batch["action"].device)
                logits, values, _ = self.model(batch["obs"][:, part], (h0[:, part], c0[:, part]),
                                               batch["start"][:, part])
                sub = {k: batch[k][:, part].reshape(-1, *batch[k].shape[2:])
                       for k in ("action", "logp", "value", "advantage", "return", "teacher")}
                sub.update(adv_mean=batch["adv_mean"], adv_std=batch["adv_std"], all_taught=batch["all_taught"])
                idx = torch.arange(sub["action"].shape[0], device=sub["action"].device)
                logs.append(self._step(logits.reshape(-1, logits.shape[-1]), values.reshape(-1), sub, idx, coef))
        return logs

    def _step(self, logits, values, batch, idx, coef):
        c = self.config
        terms = ppo_losses(logits, values, batch, idx, c.clip, coef,
                           filter_advantage=c.teacher_filter == "advantage")
        loss = terms["policy"] + c.vf_coef * terms["value"] - c.ent_coef * terms["entropy"] + coef * terms["teacher"]
        if not torch.isfinite(loss):
            bad = [k for k, v in terms.items() if not torch.isfinite(v)]
            raise Diverged(f"non-finite {', '.join(bad) or 'loss'} in the PPO update")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), c.max_grad_norm)
        self.optimizer.step()
        terms = {k: float(v.detach()) for k, v in terms.items()}
        terms.update(loss=float(loss.detach()), grad_norm=float(grad_norm))
        return terms


def _mean_logs(logs):
    if not logs:
        return {}
    return {k: float(np.mean([d[k] for d in logs])) for k in logs[0]}
