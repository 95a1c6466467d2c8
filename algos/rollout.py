"""Collecting one iteration of experience, the official way: fresh episodes in every env, the student's own
sampled actions, the teacher's distribution stored per step, until at least `min_episodes` episodes have ended
and at least `min_steps` steps were taken. Episodes still running at that point are cut and bootstrapped with
the critic, like episodes cut by the time limit."""
import numpy as np
import torch


class Rollout:
    """Time-major storage (T, N, ...) that grows by doubling; one batched student forward per step."""

    def __init__(self, n_envs, obs_shape, capacity=256):
        self.n, self.obs_shape = n_envs, tuple(obs_shape)
        self._alloc(capacity)

    def _alloc(self, capacity):
        old = getattr(self, "obs", None)
        n = self.n
        new = dict(obs=np.zeros((capacity, n) + self.obs_shape, np.uint8),
                   action=np.zeros((capacity, n), np.int64), logp=np.zeros((capacity, n), np.float32),
                   value=np.zeros((capacity, n), np.float32), reward=np.zeros((capacity, n), np.float32),
                   terminated=np.zeros((capacity, n), bool), truncated=np.zeros((capacity, n), bool),
                   start=np.zeros((capacity, n), bool), teacher=np.zeros((capacity, n, 7), np.float32),
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
def collect(model, envs, storage, device, min_episodes, min_steps, gamma, lam, max_steps=None):
    """Fill `storage` with one iteration; returns (batch of flat tensors, list of finished-episode stats)."""
    envs.reset_all()
    arr = envs.arrays
    n = envs.n
    state = model.initial_state(n, device)
    init_state = None if state is None else tuple(s.clone() for s in state)
    starts = np.ones(n, dtype=bool)
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
        envs.step(storage.action[t])
        storage.reward[t] = arr["reward"]
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
        if len(episodes) >= min_episodes and t * n >= min_steps:
            break
    steps = t
    # Bootstrap values: time-limit truncations use V(final obs); episodes cut by the iteration end use V(next obs).
    storage.boot_value[:steps] = 0.0
    if final_obs:
        v = _values(model, np.stack(final_obs), device)
        for (tt, i), vi in zip(final_where, v):
            storage.boot_value[tt, i] = vi
    running = ~(storage.terminated[steps - 1] | storage.truncated[steps - 1])
    next_value = _values(model, arr["obs"], device, state) if running.any() else np.zeros(n, np.float32)
    advantages, returns = gae(storage, steps, next_value, running, gamma, lam)
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
