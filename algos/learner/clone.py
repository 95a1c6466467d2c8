"""Behaviour cloning: the student's network fitted to a teacher's action distributions on steps the teacher drove
(cross-entropy to the teacher's distribution; its KL(teacher || student) is the same minus the teacher's entropy).
Used by the warm start of a run (algos/run/warm_start.py, --clone_steps) and by bench/miniworld_imitation.py.

    fit(model, images, targets, starts, epochs, lr, rng)   # -> the KL on the fitted steps after each epoch
    kl(model, images, targets, starts)                      # mean KL(teacher || student) per step

images (N, *obs_shape) in the env's dtype, targets (N, A) float32 distributions, starts (N,) bool: the steps that
begin an episode, in order. The feed-forward student learns STEPS_PER_MINIBATCH shuffled steps at a time; the
recurrent one EPISODES_PER_MINIBATCH whole episodes, each one sequence from a zero state (pieces of at most seq_len
steps if seq_len).
"""
import numpy as np
import torch

STEPS_PER_MINIBATCH = 128
EPISODES_PER_MINIBATCH = 2


def episodes(starts, seq_len=0):
    """[(i, j)]: each episode's steps, from the start flags; cut into pieces of at most seq_len steps if seq_len."""
    cuts = list(np.flatnonzero(starts)) + [len(starts)]
    if not len(starts) or not starts[0]:
        raise ValueError("the first step must begin an episode")
    whole = list(zip(cuts[:-1], cuts[1:]))
    if not seq_len:
        return whole
    return [(i, min(i + seq_len, j)) for s, j in whole for i in range(s, j, seq_len)]


def units(model, starts, seq_len=0):
    """How many things a minibatch is drawn from: steps (feed-forward) or episodes (recurrent)."""
    return len(episodes(starts, seq_len)) if model.recurrent else len(starts)


def batches(model, images, targets, starts, order, size, seq_len=0, device=None):
    """(logits (n, A), targets (n, A)) per minibatch of `size` units of `order` (see units)."""
    def tensor(a):
        return torch.from_numpy(np.ascontiguousarray(a)).to(device)
    if not model.recurrent:
        for i in range(0, len(order), size):
            idx = np.sort(order[i:i + size])
            yield model(tensor(images[idx]))[0], tensor(targets[idx])
        return
    eps = episodes(starts, seq_len)
    for i in range(0, len(order), size):
        chosen = [eps[e] for e in order[i:i + size]]
        t = max(j - s for s, j in chosen)
        seq = np.zeros((t, len(chosen)) + images.shape[1:], dtype=images.dtype)
        for b, (s, j) in enumerate(chosen):
            seq[:j - s, b] = images[s:j]
        logits = model(tensor(seq))[0]
        yield (torch.cat([logits[:j - s, b] for b, (s, j) in enumerate(chosen)]),
               tensor(np.concatenate([targets[s:j] for s, j in chosen])))


def kl(model, images, targets, starts, device=None):
    """Mean KL(teacher || student) per step, in nats."""
    size = 16 if model.recurrent else 512
    total = 0.0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for logits, t in batches(model, images, targets, starts, np.arange(units(model, starts)), size,
                                     device=device):
                logp = torch.log_softmax(logits.float(), -1)
                total += float((t * (torch.log(t.clamp_min(1e-12)) - logp)).sum())
    finally:
        model.train(was_training)
    return total / len(images)


def fit(model, images, targets, starts, epochs, lr, rng, seq_len=0, device=None, on_epoch=None, size=None,
        optimizer=None):
    """Fit the model's policy to the targets for `epochs` passes (the optimizer at lr: a fresh Adam, or the one
    given, whose moments then carry on; minibatches of `size` units, by default as the module says); the KL on the
    fitted steps after each epoch (on_epoch(epoch, kl) too, when given)."""
    size = size or (EPISODES_PER_MINIBATCH if model.recurrent else STEPS_PER_MINIBATCH)
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    for group in opt.param_groups:
        group["lr"] = lr
    out = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(units(model, starts, seq_len))
        for logits, target in batches(model, images, targets, starts, order, size, seq_len, device):
            loss = -(target * torch.log_softmax(logits.float(), -1)).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        out.append(kl(model, images, targets, starts, device))
        if on_epoch is not None:
            on_epoch(epoch, out[-1])
    return out


class Demonstrations:
    """Steps a teacher drove, replayed beside PPO (--clone_replay; DAPG's augmented loss, Rajeswaran et al. 2018):
    loss(model) is the cross-entropy of the student's policy to the teacher's on the next minibatch of them (units
    drawn without replacement, reshuffled when spent). Saved with the run (save / load) so a resumed run replays
    the same steps."""

    def __init__(self, images, targets, starts, seed=0):
        self.images, self.targets, self.starts = images, targets.astype(np.float32), starts.astype(bool)
        episodes(self.starts)  # the first step must begin an episode
        self.rng = np.random.default_rng(seed)
        self.order = np.zeros(0, dtype=np.int64)

    def loss(self, model, device=None):
        size = EPISODES_PER_MINIBATCH if model.recurrent else STEPS_PER_MINIBATCH
        if len(self.order) < size:
            self.order = self.rng.permutation(units(model, self.starts))
        pick, self.order = self.order[:size], self.order[size:]
        logits, target = next(batches(model, self.images, self.targets, self.starts, pick, size, device=device))
        return -(target * torch.log_softmax(logits.float(), -1)).sum(-1).mean()

    def save(self, path):
        with open(path, "wb") as f:
            np.savez_compressed(f, images=self.images, targets=self.targets, starts=self.starts)

    @classmethod
    def load(cls, path, obs_shape, n_actions, seed=0):
        """The demonstrations saved at path; ValueError when they are not a run's of this observation shape."""
        with np.load(path) as data:
            images, targets, starts = data["images"], data["targets"], data["starts"]
        if images.shape[1:] != tuple(obs_shape) or targets.shape != (len(images), n_actions) or \
                starts.shape != (len(images),):
            raise ValueError(f"demonstrations of shape {images.shape[1:]} with {targets.shape[-1]} actions, "
                             f"{tuple(obs_shape)} with {n_actions} expected")
        return cls(images, targets, starts, seed)
