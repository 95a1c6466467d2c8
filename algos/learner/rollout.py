"""Collection, the official way: fresh episodes in every env, the student's own sampled actions, the teacher's
distribution stored per step, until at least traj_per_itr episodes have ended and at least 2 x batch_size steps
were taken. Episodes still running then are cut and bootstrapped with the critic, like episodes cut by the time
limit. With rollout_steps > 0 (CleanRL's way) an iteration is that many steps in every env instead, and the
episodes go on into the next iteration (the student's LSTM state with them); only the first iteration of a
session, or one after the teacher was switched on or off, starts fresh episodes. Then GAE over the iteration.
"""
import numpy as np
import torch

from algos.learner.rollin import RollIn


class Rollout:
    """Time-major storage (T, N, ...) that grows by doubling; one batched student forward per step."""

    def __init__(self, n_envs, obs_shape, capacity=256, n_actions=7):
        self.n, self.obs_shape, self.n_actions = n_envs, tuple(obs_shape), n_actions
        self.carry = None  # (LSTM state, episode starts) where the pool's episodes go on (rollout_steps)
        self.rollin = RollIn(n_envs)  # the teacher's roll-ins (algos/learner/rollin.py), going on with the episodes
        self._alloc(capacity)

    def _alloc(self, capacity):
        old = getattr(self, "obs", None)
        n = self.n
        new = dict(obs=np.zeros((capacity, n) + self.obs_shape, np.uint8),
                   action=np.zeros((capacity, n), np.int64), logp=np.zeros((capacity, n), np.float32),
                   value=np.zeros((capacity, n), np.float32), reward=np.zeros((capacity, n), np.float32),
                   terminated=np.zeros((capacity, n), bool), truncated=np.zeros((capacity, n), bool),
                   start=np.zeros((capacity, n), bool), guided=np.zeros((capacity, n), bool),
                   teacher=np.zeros((capacity, n, self.n_actions), np.float32),
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
def collect(model, pool, storage, device, config, rollin_horizon=0):
    """Fill `storage` with one iteration (>= config.traj_per_itr episodes ended, >= 2 x config.batch_size steps; or
    config.rollout_steps steps per env, going on from where the previous iteration left the pool's episodes unless
    storage.carry was cleared); returns (batch of tensors (T, N, ...), list of finished-episode (return, length,
    success, had a teacher roll-in)). rollin_horizon > 0: every episode starting now begins with a teacher roll-in
    of 0..rollin_horizon steps (algos/learner/rollin.py); the batch's "guided" marks the teacher's steps."""
    min_episodes, min_steps = config.traj_per_itr, 2 * config.batch_size
    arr = pool.arrays
    n = pool.n
    if config.rollout_steps > 0 and storage.carry is not None:
        state, starts = storage.carry
    else:
        pool.reset()
        state, starts = model.initial_state(n, device), np.ones(n, dtype=bool)
        storage.rollin.clear()
    rollin = storage.rollin
    init_state = None if state is None else tuple(s.clone() for s in state)
    episodes = []
    final_obs, final_where = [], []
    t = 0
    while True:
        storage.ensure(t)
        storage.obs[t] = arr["obs"]
        storage.teacher[t] = arr["teacher"]
        storage.start[t] = starts
        guiding = rollin.active(rollin_horizon)
        if guiding:
            rollin.begin(starts, rollin_horizon)
        elif rollin.guided.any():
            rollin.guided[starts] = False
        obs_t = torch.from_numpy(storage.obs[t]).to(device)
        logits, value, state = model(obs_t, state, torch.from_numpy(starts).to(device) if state is not None else None)
        dist = model.distribution(logits)
        action = dist.sample()
        storage.action[t] = action.cpu().numpy()
        if guiding:  # the teacher acts in its roll-ins; logp is still the student's, of the action taken
            storage.guided[t] = rollin.act(storage.action[t], arr["teacher"])
            action = torch.from_numpy(storage.action[t]).to(action.device)
        else:
            storage.guided[t] = False
        storage.logp[t] = dist.log_prob(action).cpu().numpy()
        storage.value[t] = value.cpu().numpy()
        pool.step(storage.action[t])
        np.add(arr["reward"], arr["bonus"], out=storage.reward[t])   # the bonus is 0 unless --count_bonus
        storage.terminated[t] = arr["terminated"]
        storage.truncated[t] = arr["truncated"]
        ended = arr["terminated"] | arr["truncated"]
        for i in np.nonzero(ended)[0]:
            episodes.append((float(arr["ep_return"][i]), int(arr["ep_length"][i]), bool(arr["ep_success"][i]),
                             bool(rollin.guided[i])))
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
        "value": storage.value[:steps], "teacher": storage.teacher[:steps],
        "start": storage.start[:steps], "guided": storage.guided[:steps], "advantage": advantages, "return": returns,
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
