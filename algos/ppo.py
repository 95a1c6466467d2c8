"""PPO update with the LLM4Teach teacher term.

loss = clipped policy loss + vf_coef * clipped value loss - ent_coef * entropy
       + coef * mean(-sum_a teacher(a|s) log pi(a|s))      (cross-entropy = forward KL up to a constant)
"""

import numpy as np
import torch
import torch.nn as nn


def teacher_coef(iteration, start=10.0, decay=0.005, floor=0.1, off_after=3000):
    """The annealed teacher coefficient at an iteration: start - decay * iteration, at least floor, 0 from
    off_after on (and always 0 when start is 0: plain PPO)."""
    if start <= 0 or iteration >= off_after:
        return 0.0
    return max(start - decay * iteration, floor)


def ppo_losses(logits, values, batch, idx, clip, coef, norm_adv=True):
    """The named loss terms for one minibatch (flat indices idx into the flattened batch)."""
    dist = torch.distributions.Categorical(logits=logits)
    action, old_logp, old_value = batch["action"][idx], batch["logp"][idx], batch["value"][idx]
    adv, ret, teacher = batch["advantage"][idx], batch["return"][idx], batch["teacher"][idx]
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
    teacher_loss = -(teacher * log_probs).sum(-1).mean() if coef > 0 else torch.zeros((), device=logits.device)
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clipfrac = ((ratio - 1).abs() > clip).float().mean()
    return dict(policy=policy_loss, value=value_loss, entropy=entropy, teacher=teacher_loss,
                approx_kl=approx_kl, clipfrac=clipfrac)


class PPO:
    def __init__(self, model, lr=1e-3, eps=1e-8, clip=0.2, vf_coef=0.5, ent_coef=0.001, max_grad_norm=0.5,
                 epochs=3, minibatch=128):
        self.model = model
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr, eps=eps)
        self.clip, self.vf_coef, self.ent_coef = clip, vf_coef, ent_coef
        self.max_grad_norm, self.epochs, self.minibatch = max_grad_norm, epochs, minibatch

    def update(self, batch, coef, generator=None):
        """Epochs of shuffled minibatches (the last partial one dropped, as in the official code)."""
        steps, n = batch["action"].shape
        adv = batch["advantage"].reshape(-1)
        batch = dict(batch, adv_mean=adv.mean(), adv_std=adv.std() if adv.numel() > 1 else torch.ones(()))
        if self.model.recurrent:
            return self._update_recurrent(batch, coef, generator)
        flat = {k: batch[k].reshape((steps * n,) + batch[k].shape[2:])
                for k in ("obs", "action", "logp", "value", "advantage", "return", "teacher")}
        flat.update(adv_mean=batch["adv_mean"], adv_std=batch["adv_std"])
        total = steps * n
        size = min(self.minibatch, total)
        logs = []
        for _ in range(self.epochs):
            perm = torch.randperm(total, generator=generator).to(flat["action"].device)
            for start in range(0, total - size + 1, size):
                idx = perm[start:start + size]
                logits, values, _ = self.model(flat["obs"][idx])
                logs.append(self._step(logits, values, flat, idx, coef))
        return _mean_logs(logs)

    def _update_recurrent(self, batch, coef, generator):
        """Minibatches of whole env columns (full sequences with their episode starts), as in CleanRL's LSTM PPO."""
        steps, n = batch["action"].shape
        n_mb = max(1, min(n, (steps * n) // self.minibatch))
        h0, c0 = batch["init_state"]
        logs = []
        for _ in range(self.epochs):
            cols = torch.randperm(n, generator=generator)
            for part in cols.chunk(n_mb):
                part = part.to(batch["action"].device)
                logits, values, _ = self.model(batch["obs"][:, part], (h0[:, part], c0[:, part]),
                                               batch["start"][:, part])
                sub = {k: batch[k][:, part].reshape(-1, *batch[k].shape[2:])
                       for k in ("action", "logp", "value", "advantage", "return", "teacher")}
                sub.update(adv_mean=batch["adv_mean"], adv_std=batch["adv_std"])
                idx = torch.arange(sub["action"].shape[0], device=sub["action"].device)
                logs.append(self._step(logits.reshape(-1, logits.shape[-1]), values.reshape(-1), sub, idx, coef))
        return _mean_logs(logs)

    def _step(self, logits, values, batch, idx, coef):
        terms = ppo_losses(logits, values, batch, idx, self.clip, coef)
        loss = terms["policy"] + self.vf_coef * terms["value"] - self.ent_coef * terms["entropy"] + coef * terms["teacher"]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
        self.optimizer.step()
        terms = {k: float(v.detach()) for k, v in terms.items()}
        terms.update(loss=float(loss.detach()), grad_norm=float(grad_norm))
        return terms


def _mean_logs(logs):
    if not logs:
        return {}
    return {k: float(np.mean([d[k] for d in logs])) for k in logs[0]}


__all__ = ["PPO", "ppo_losses", "teacher_coef"]
