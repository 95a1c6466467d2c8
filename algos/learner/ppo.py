"""PPO with the LLM4Teach teacher term, as two steps (torch-ac's shape): `collect` one iteration of experience
(algos/learner/rollout.py), then `PPO.update` on it:

loss = clipped policy loss + vf_coef * clipped value loss - ent_coef * entropy
       + coef * mean(-sum_a teacher(a|s) log pi(a|s))      (cross-entropy = forward KL up to a constant)

--teacher_smoothing eps: teacher(a|s) above is (1 - eps) x the teacher's distribution + eps / |A| (label smoothing).
--teacher_filter advisor: + coef * mean(CE(teacher, imitator)), and each sample's cross-entropy above is weighted by
w(s) = exp(-teacher_gap_alpha * CE(teacher, imitator)(s)) (not differentiated): ADVISOR's imitation-gap weight.
--teacher_filter trust: each sample's cross-entropy is weighted by its observation text's trust, 0 or 1
(algos/learner/text_trust.py, updated with each batch's evidence before the update as batch["trust"]).

Settings are read from the run's Config by their flag names (lr, adam_eps, clip, vf_coef, ent_coef,
max_grad_norm, epochs, batch_size); the coefficient comes from the run's teacher schedule (algos/learner/schedule.py).
"""
import math

import numpy as np
import torch
import torch.nn as nn

from algos.learner.text_trust import TextTrust
from utils.errors import Diverged


def learning_rate(config, iteration, env_steps=0):
    """lr, or with anneal_lr lr x (1 - the fraction of the budget used)."""
    if not config.anneal_lr:
        return config.lr
    used = iteration / config.n_itr
    if config.max_env_steps > 0:
        used = max(used, env_steps / config.max_env_steps)
    return config.lr * max(0.0, 1.0 - used)


def ppo_losses(logits, values, batch, idx, clip, coef, norm_adv=True, filter_advantage=False, imitator_logits=None,
               gap_alpha=4.0):
    """The named loss terms for one minibatch (flat indices idx into the flattened batch). filter_advantage: the
    teacher term imitates a sample only where its (raw GAE) advantage agrees with the teacher: the student took the
    teacher's most likely action and the outcome was at least as good as its critic expected, or it took another
    action and did worse; the other samples' terms are dropped (the binary advantage filter of Critic Regularized
    Regression, Wang et al. 2020, with the teacher's action as the one to clone). imitator_logits (advisor): the
    imitator head's logits on the same samples; its own cross-entropy with the teacher joins the teacher term, and
    each sample's imitation is weighted by exp(-gap_alpha x that cross-entropy) (ADVISOR, Weihs et al. 2021).
    batch["trust"] (--teacher_filter trust): per-sample weights of the teacher term, 0 on distrusted texts."""
    dist = torch.distributions.Categorical(logits=logits)
    action, old_logp, old_value = batch["action"][idx], batch["logp"][idx], batch["value"][idx]
    adv, ret, teacher = batch["advantage"][idx], batch["return"][idx], batch["teacher"][idx]
    raw_adv = adv
    own = batch.get("own")  # the student's own steps (None: all of them; the teacher's roll-in steps are not)
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
        if imitator_logits is not None:
            imitator_ce = -(teacher * torch.log_softmax(imitator_logits, dim=-1)).sum(-1)
            weight = torch.exp(-gap_alpha * imitator_ce.detach())
            teacher_loss = mean(weight * cross_entropy) + mean(imitator_ce)
            imitated = mean(weight).detach()
        elif "trust" in batch:  # --teacher_filter trust: the weights of the samples' texts (algos/learner/text_trust.py)
            keep = taught * batch["trust"][idx]
            teacher_loss = (cross_entropy * keep).sum() / taught.sum().clamp(min=1)
            imitated = (keep.sum() / taught.sum().clamp(min=1)).detach()
        elif filter_advantage:
            took_teachers = teacher.gather(-1, action[:, None]).squeeze(-1) >= teacher.max(-1).values - 1e-6
            keep = taught & (took_teachers == (raw_adv >= 0))
            teacher_loss = (cross_entropy * keep).sum() / taught.sum().clamp(min=1)
            imitated = (keep.sum() / taught.sum().clamp(min=1)).detach()
        else:
            teacher_loss = mean(cross_entropy)
        with torch.no_grad():  # KL(teacher || student) = cross-entropy - the teacher's entropy: still to learn
            teacher_kl = mean(cross_entropy) + mean(torch.special.xlogy(teacher, teacher).sum(-1))
    with torch.no_grad():
        approx_kl = own_mean((ratio - 1) - log_ratio)
        clipfrac = own_mean(((ratio - 1).abs() > clip).float())
    return dict(policy=policy_loss, value=value_loss, entropy=entropy, teacher=teacher_loss, teacher_kl=teacher_kl,
                imitated=imitated, approx_kl=approx_kl, clipfrac=clipfrac)


def smoothed(teacher, eps):
    """(1 - eps) x each taught row + eps x the uniform distribution (label smoothing); rows that were not taught
    (all zeros) stay zeros."""
    taught = teacher.sum(-1, keepdim=True) > 0.5
    return torch.where(taught, (1 - eps) * teacher + eps / teacher.shape[-1], teacher)


class PPO:
    def __init__(self, model, config):
        self.model, self.config = model, config
        # torch's fused kernel: one pass over each tensor, where on a CPU torch otherwise loops over Adam's ops per
        # tensor; the same update up to float rounding, and iterations 10-19% faster (docs/reproducing.md, Speed)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, eps=config.adam_eps, fused=True)
        self.trust = TextTrust() if config.teacher_filter == "trust" else None  # its state: in the checkpoints

    def load_optimizer(self, state):
        """Adam's state from a checkpoint; the saved groups' kernel flags (checkpoints from before the fused kernel
        have none) do not replace ours."""
        self.optimizer.load_state_dict(state)
        for group in self.optimizer.param_groups:
            group["fused"], group["foreach"] = True, None

    def update(self, batch, coef, lr=None, generator=None):
        """Epochs of shuffled minibatches (the last partial one dropped, as in the official code), at learning rate
        `lr` (default config.lr). Raises Diverged when a loss or a weight is not finite (the model is then not to be
        saved)."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr if lr is None else lr
        if self.config.teacher_smoothing > 0:
            batch = dict(batch, teacher=smoothed(batch["teacher"], self.config.teacher_smoothing))
        if self.trust is not None and coef > 0:  # the texts' evidence, this iteration's included
            batch = dict(batch, trust=self.trust.update(batch))
        steps, n = batch["action"].shape
        adv = batch["advantage"].reshape(-1)
        guided = batch.get("guided")
        own = None if guided is None or not bool(guided.any()) else ~guided  # roll-ins: RL on the student's steps
        if own is not None:
            adv = adv[own.reshape(-1)] if bool(own.any()) else adv
        batch = dict(batch, adv_mean=adv.mean(), adv_std=adv.std() if adv.numel() > 1 else torch.ones(()),
                     all_taught=bool((batch["teacher"].sum(-1) > 0.5).all()), own=own)
        logs = self._update_recurrent(batch, coef, generator) if self.model.recurrent else \
            self._update_flat(batch, steps * n, coef, generator)
        logs = _mean_logs(logs)
        bad = [k for k, v in logs.items() if not math.isfinite(v)]
        if bad or not all(torch.isfinite(p).all() for p in self.model.parameters()):
            raise Diverged(f"non-finite {', '.join(bad) or 'weights'} in the PPO update")
        return logs

    def _update_flat(self, batch, total, coef, generator):
        flat = {k: batch[k].reshape((total,) + batch[k].shape[2:])
                for k in ("obs", "action", "logp", "value", "advantage", "return", "teacher", "trust") if k in batch}
        flat.update(adv_mean=batch["adv_mean"], adv_std=batch["adv_std"], all_taught=batch["all_taught"],
                    own=None if batch["own"] is None else batch["own"].reshape(-1).float())
        size = min(self.config.batch_size, total)
        logs = []
        for _ in range(self.config.epochs):
            perm = torch.randperm(total, generator=generator).to(flat["action"].device)
            for start in range(0, total - size + 1, size):
                idx = perm[start:start + size]
                logits, values, _ = self.model(flat["obs"][idx])
                logs.append(self._step(logits, values, flat, idx, coef, self._imitator(coef)))
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
                       for k in ("action", "logp", "value", "advantage", "return", "teacher", "trust") if k in batch}
                sub.update(adv_mean=batch["adv_mean"], adv_std=batch["adv_std"], all_taught=batch["all_taught"],
                           own=None if batch["own"] is None else batch["own"][:, part].reshape(-1).float())
                idx = torch.arange(sub["action"].shape[0], device=sub["action"].device)
                logs.append(self._step(logits.reshape(-1, logits.shape[-1]), values.reshape(-1), sub, idx, coef,
                                       self._imitator(coef)))
        return logs

    def _imitator(self, coef):
        """The imitator head's logits for the last forward pass (None without the head, or with the term off)."""
        if self.config.teacher_filter != "advisor" or coef <= 0:
            return None
        return self.model.imitator_logits()

    def _step(self, logits, values, batch, idx, coef, imitator_logits=None):
        c = self.config
        terms = ppo_losses(logits, values, batch, idx, c.clip, coef,
                           filter_advantage=c.teacher_filter == "advantage", imitator_logits=imitator_logits,
                           gap_alpha=c.teacher_gap_alpha)
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
