"""--teacher_filter trust: imitate the teacher only on the observation texts where following it pays.

The advantage filter (--teacher_filter advantage) judges every sample by its own GAE advantage, which is one noisy
return. A teacher's advice, though, is a function of the observation text: the same text always gets the same
plans. So the evidence is pooled per text, over every visit of the student's own steps (not the teacher's roll-ins):

    follow(t)  = mean advantage of the steps on text t where the student took the teacher's most likely action
    deviate(t) = mean advantage of the steps on text t where it took another one

Each iteration's sums and counts are added to the text's running ones after multiplying those by TRUST_DECAY, so a
text's evidence spans about the last 1 / (1 - TRUST_DECAY) iterations and follows the student as it changes. Once a
text has at least TRUST_MIN_SAMPLES of each kind (decayed counts), it is distrusted when deviate - follow is
larger than both TRUST_Z standard errors of that difference and TRUST_MARGIN, and trusted again when follow >=
deviate; otherwise, and while either count is below TRUST_MIN_SAMPLES (the student has stopped doing one of the
two there), the text keeps its last verdict (at first: trusted). The teacher term imitates only the samples of
trusted texts (the sum over them divided by all taught samples, like the advantage filter; `Teacher/Imitated
Share`). A teacher stuck in a loop on some text (ColoredDoorKey's key swap: docs/teacher_schedule.md) is followed
at a loss there, and the student is left to RL on that text while still imitating everywhere else.

This is the advantage filter of Critic Regularized Regression (Wang et al. 2020: imitate where A(s, a) > 0) with the
teacher's action as the one to clone, as --teacher_filter advantage, and the advantage estimated per observation
text (the teacher's state) as a difference of means instead of per sample; CRR's "mean" variant estimates
A(s, a) with several sampled actions in one state, and the text's visits play that part here.
"""
import numpy as np
import torch

TRUST_DECAY = 0.9         # each iteration, a text's running sums and counts are multiplied by this first
TRUST_MIN_SAMPLES = 20.0  # decayed count of each kind (followed, not followed) before a text's verdict changes
TRUST_Z = 2.0             # distrust only when deviate - follow exceeds this many standard errors of the difference
TRUST_MARGIN = 0.01       # ... and this much (a hundredth of a full reward: a critic's noise is not evidence)


class TextTrust:
    def __init__(self):
        self.ids = np.zeros(0, np.int64)           # the texts seen, sorted
        self.sums = np.zeros((0, 6), np.float64)   # per text: count, advantage sum and sum of squares of the steps
                                                   # that followed the teacher, then of those that did not
        self.trusted = np.zeros(0, bool)           # per text: the current verdict

    def update(self, batch):
        """Pool one iteration's evidence (its texts, actions, teacher distributions, raw GAE advantages; only the
        student's own taught steps count) and return the teacher term's per-sample weights (1: imitate, 0: not;
        shape of batch["action"], on its device)."""
        text = batch["text"].reshape(-1).cpu().numpy()
        teacher = batch["teacher"].reshape(-1, batch["teacher"].shape[-1]).cpu().numpy()
        action = batch["action"].reshape(-1).cpu().numpy()
        adv = batch["advantage"].reshape(-1).cpu().numpy().astype(np.float64)
        taught = (teacher.sum(-1) > 0.5) & (text != 0)
        guided = batch.get("guided")
        if guided is not None:
            taught &= ~guided.reshape(-1).cpu().numpy()
        followed = teacher[np.arange(len(action)), action] >= teacher.max(-1) - 1e-6
        self._add(np.unique(text[text != 0]))
        where = np.searchsorted(self.ids, text[taught])
        fresh = np.zeros_like(self.sums)
        f, a = followed[taught], adv[taught]
        for column, mask, values in ((0, f, 1.0), (1, f, a), (2, f, a * a), (3, ~f, 1.0), (4, ~f, a), (5, ~f, a * a)):
            fresh[:, column] = np.bincount(where, weights=mask * values, minlength=len(self.ids))
        self.sums = TRUST_DECAY * self.sums + fresh
        (m_f, v_f, n_f), (m_o, v_o, n_o) = _moments(self.sums[:, :3]), _moments(self.sums[:, 3:])
        judged = self._judged()
        gap = m_o - m_f
        stderr = np.sqrt(v_f / np.maximum(n_f, 1) + v_o / np.maximum(n_o, 1))
        worse = judged & (gap > TRUST_MARGIN) & (gap > TRUST_Z * stderr)
        self.trusted = np.where(worse, False, np.where(judged & (gap <= 0), True, self.trusted))
        weights = self.weights(text)
        return torch.from_numpy(weights.reshape(batch["action"].shape)).to(batch["action"].device)

    def weights(self, text):
        """1.0 for samples whose text is trusted (or not seen yet), 0.0 for the others."""
        if not len(self.ids):
            return np.ones(text.shape, np.float32)
        at = np.minimum(np.searchsorted(self.ids, text), len(self.ids) - 1)
        return (~((self.ids[at] == text) & ~self.trusted[at])).astype(np.float32)

    def _add(self, ids):
        new = np.setdiff1d(ids, self.ids, assume_unique=True)
        if len(new):
            ids = np.concatenate([self.ids, new])
            order = np.argsort(ids, kind="stable")
            self.ids = ids[order]
            self.sums = np.concatenate([self.sums, np.zeros((len(new), 6))])[order]
            self.trusted = np.concatenate([self.trusted, np.ones(len(new), bool)])[order]

    def _judged(self):
        """Per text: whether it has enough evidence of both kinds (followed, not followed) to be judged."""
        return (self.sums[:, 0] >= TRUST_MIN_SAMPLES) & (self.sums[:, 3] >= TRUST_MIN_SAMPLES)

    def metrics(self):
        return {"Teacher/Distrusted Texts": int((~self.trusted).sum()),
                "Teacher/Judged Texts": int(self._judged().sum())}

    def state_dict(self):
        return {"ids": self.ids.tolist(), "sums": self.sums.tolist(), "trusted": self.trusted.tolist()}

    def load_state_dict(self, state):
        """ValueError for a state that is not one."""
        ids = np.asarray(state["ids"], np.int64)
        sums = np.asarray(state["sums"], np.float64).reshape(len(ids), 6)
        trusted = np.asarray(state["trusted"], bool)
        if trusted.shape != ids.shape or (len(ids) > 1 and not (np.diff(ids) > 0).all()):
            raise ValueError("the text trust's state is not consistent")
        self.ids, self.sums, self.trusted = ids, sums, trusted


def _moments(sums):
    """(mean, variance, count) per row of (count, sum, sum of squares) columns."""
    n = sums[:, 0]
    mean = sums[:, 1] / np.maximum(n, 1e-12)
    return mean, np.maximum(sums[:, 2] / np.maximum(n, 1e-12) - mean ** 2, 0.0), n
