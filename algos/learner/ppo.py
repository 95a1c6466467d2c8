"""PPO as two steps (torch-ac's shape): `collect` one iteration of experience (algos/learner/rollout.py), then
`PPO.update` on it:

loss = clipped policy loss + vf_coef * clipped value loss - ent_coef * entropy + coef * teacher term
       (+ coef * the cross-entropy on a minibatch of a warm start's demonstrations, with --clone_replay)

The teacher term (the cross-entropy with the teacher's distribution, its target and --teacher_filter) is one object,
algos/learner/teacher_term.py; its weight coef comes from the run's schedule (algos/learner/schedule.py). With
teacher roll-ins PPO's own terms leave out the teacher's steps (algos/learner/rollin.py). Settings are read from
the run's Config by their flag names (lr, adam_eps, clip, vf_coef, ent_coef, max_grad_norm, epochs, batch_size).
"""
import math

import numpy as np
import torch
import torch.nn as nn

from algos.learner.rollin import rl_samples
from algos.learner.teacher_term import make_teacher_term
from utils.errors import Diverged


def learning_rate(config, iteration, env_steps=0):
    """lr, or with anneal_lr lr x (1 - the fraction of the budget used)."""
    if not config.anneal_lr:
        return config.lr
    used = iteration / config.n_itr
    if config.max_env_steps > 0:
        used = max(used, env_steps / config.max_env_steps)
    return config.lr * max(0.0, 1.0 - used)


def ppo_losses(logits, values, batch, idx, clip, norm_adv=True):
    """PPO's named terms for one minibatch (flat indices idx into the flattened batch): the clipped policy loss, the
    clipped value loss, the entropy, and the diagnostics approx_kl and clipfrac. batch["own"] (roll-ins) weighs the
    samples the student acted on (None: all of them)."""
    dist = torch.distributions.Categorical(logits=logits)
    action, old_logp, old_value = batch["action"][idx], batch["logp"][idx], batch["value"][idx]
    adv, ret = batch["advantage"][idx], batch["return"][idx]
    own = batch.get("own")
    own_mean = (lambda x: x.mean()) if own is None else (lambda x: (x * own[idx]).sum() / own[idx].sum().clamp(min=1))
    if norm_adv:
        adv = (adv - batch["adv_mean"]) / (batch["adv_std"] + 1e-8)
    logp = dist.log_prob(action)
    log_ratio = logp - old_logp
    ratio = log_ratio.exp()
    policy_loss = own_mean(torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip, 1 + clip)))
    v_clipped = old_value + (values - old_value).clamp(-clip, clip)
    value_loss = own_mean(torch.max((values - ret) ** 2, (v_clipped - ret) ** 2))
    entropy = own_mean(dist.entropy())
    with torch.no_grad():
        approx_kl = own_mean((ratio - 1) - log_ratio)
        clipfrac = own_mean(((ratio - 1).abs() > clip).float())
    return dict(policy=policy_loss, value=value_loss, entropy=entropy, approx_kl=approx_kl, clipfrac=clipfrac)


class PPO:
    def __init__(self, model, config):
        self.model, self.config = model, config
        # torch's fused kernel: one pass over each tensor, where on a CPU torch otherwise loops over Adam's ops per
        # tensor; the same update up to float rounding, and iterations 10-19% faster (docs/reproducing.md, Speed)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, eps=config.adam_eps, fused=True)
        self.teacher_term = make_teacher_term(config)
        self.demos = None  # a warm start's Demonstrations replayed beside the teacher term (--clone_replay)

    def update(self, batch, coef, lr=None, generator=None):
        """Epochs of shuffled minibatches (the last partial one dropped, as in the official code), at learning rate
        `lr` (default config.lr). Raises Diverged when a loss or a weight is not finite (the model is then not to be
        saved)."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr if lr is None else lr
        batch = self.teacher_term.prepare(batch)
        own = rl_samples(batch.get("guided"))
        adv = batch["advantage"].reshape(-1)
        if own is not None and bool(own.any()):
            adv = adv[own.reshape(-1)]
        batch = dict(batch, adv_mean=adv.mean(), adv_std=adv.std() if adv.numel() > 1 else torch.ones(()), own=own)
        logs = self._update_recurrent(batch, coef, generator) if self.model.recurrent else \
            self._update_flat(batch, coef, generator)
        logs = _mean_logs(logs)
        bad = [k for k, v in logs.items() if v is not None and not math.isfinite(v)]
        if bad or not all(torch.isfinite(p).all() for p in self.model.parameters()):
            raise Diverged(f"non-finite {', '.join(bad) or 'weights'} in the PPO update")
        return logs

    def _update_flat(self, batch, coef, generator):
        total = batch["action"].numel()
        flat = {k: batch[k].reshape((total,) + batch[k].shape[2:]) for k in PER_SAMPLE}
        flat.update({k: batch[k] for k in PER_BATCH}, own=None if batch["own"] is None else batch["own"].reshape(-1).float())
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
                sub = {k: batch[k][:, part].reshape(-1, *batch[k].shape[2:]) for k in PER_SAMPLE if k != "obs"}
                sub.update({k: batch[k] for k in PER_BATCH},
                           own=None if batch["own"] is None else batch["own"][:, part].reshape(-1).float())
                idx = torch.arange(sub["action"].shape[0], device=sub["action"].device)
                logs.append(self._step(logits.reshape(-1, logits.shape[-1]), values.reshape(-1), sub, idx, coef))
        return logs

    def _step(self, logits, values, batch, idx, coef):
        """One gradient step: loss = PPO's terms + coef x the teacher term (algos/learner/teacher_term.py)."""
        c = self.config
        terms = ppo_losses(logits, values, batch, idx, c.clip)
        zero = torch.zeros((), device=logits.device)
        teacher, teacher_kl, imitated = zero, zero, None
        if coef > 0:
            teacher, teacher_kl, imitated = self.teacher_term(torch.log_softmax(logits, dim=-1), batch, idx)
        demo = self.demos.loss(self.model, logits.device) if coef > 0 and self.demos is not None else zero
        terms.update(teacher=teacher, teacher_kl=teacher_kl, demo=demo)
        loss = terms["policy"] + c.vf_coef * terms["value"] - c.ent_coef * terms["entropy"] + coef * (teacher + demo)
        if not torch.isfinite(loss):
            bad = [k for k, v in terms.items() if not torch.isfinite(v)]
            raise Diverged(f"non-finite {', '.join(bad) or 'loss'} in the PPO update")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), c.max_grad_norm)
        self.optimizer.step()
        terms = {k: float(v.detach()) for k, v in terms.items()}
        terms.update(loss=float(loss.detach()), grad_norm=float(grad_norm),
                     imitated=None if imitated is None else float(imitated))
        return terms


# what the update reads of a batch: per sample (T, N, ...), and once per batch
PER_SAMPLE = ("obs", "action", "logp", "value", "advantage", "return", "teacher", "taught")
PER_BATCH = ("adv_mean", "adv_std", "all_taught")


def _mean_logs(logs):
    if not logs:
        return {}
    return {k: None if any(d[k] is None for d in logs) else float(np.mean([d[k] for d in logs])) for k in logs[0]}
