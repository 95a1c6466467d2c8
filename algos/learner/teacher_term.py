"""The teacher term of the student's loss, as one object beside PPO (algos/learner/ppo.py adds coef x it):

    term = mean over the taught samples of CE(teacher, student) = -sum_a teacher(a|s) log pi(a|s)

(the cross-entropy is the forward KL up to the teacher's entropy). `prepare(batch)` readies the target once per
batch: --teacher_smoothing mixes it with the uniform distribution (label smoothing), and the taught mask marks the
samples that have a teacher distribution at all (a live LLM that has not answered yet leaves all zeros). Then
`__call__` gives the term on a minibatch. A --teacher_filter is a subclass that keeps only some taught samples
(`keep`); the mean is still over every taught sample, so a filter weakens the term where it drops samples.
"""
import torch


def taught_mask(teacher):
    """Which samples have a teacher distribution ((..., n_actions) -> bool (...)); untaught rows are all zeros."""
    return teacher.sum(-1) > 0.5


def smoothed(teacher, eps):
    """(1 - eps) x each taught row + eps x the uniform distribution (label smoothing); untaught rows stay zeros."""
    taught = taught_mask(teacher)[..., None]
    return torch.where(taught, (1 - eps) * teacher + eps / teacher.shape[-1], teacher)


class TeacherTerm:
    """--teacher_filter none: every taught sample imitates its teacher (the paper)."""
    name = "none"
    filters = False  # whether keep() drops samples (its share is then logged as Teacher/Imitated Share)

    def __init__(self, smoothing=0.0):
        self.smoothing = smoothing

    def prepare(self, batch):
        """The batch with its teacher target ready (smoothed where asked) and its "taught" mask."""
        teacher = smoothed(batch["teacher"], self.smoothing) if self.smoothing > 0 else batch["teacher"]
        taught = taught_mask(teacher)
        return dict(batch, teacher=teacher, taught=taught, all_taught=bool(taught.all()))

    def __call__(self, log_probs, batch, idx):
        """(loss, KL(teacher || student), imitated share) on the minibatch idx of a prepared batch (flat indices)."""
        teacher, taught = batch["teacher"][idx], batch["taught"][idx]
        if batch["all_taught"]:
            mean = torch.mean
        else:
            def mean(x):
                return (x * taught).sum() / taught.sum().clamp(min=1)
        cross_entropy = -(teacher * log_probs).sum(-1)
        keep = self.keep(batch, idx, teacher, taught)
        if keep is None:
            loss, imitated = mean(cross_entropy), None
        else:
            loss = (cross_entropy * keep).sum() / taught.sum().clamp(min=1)
            imitated = (keep.sum() / taught.sum().clamp(min=1)).detach()
        with torch.no_grad():  # KL(teacher || student) = cross-entropy - the teacher's entropy: what is left to learn
            kl = mean(cross_entropy) + mean(torch.special.xlogy(teacher, teacher).sum(-1))
        return loss, kl, imitated

    def keep(self, batch, idx, teacher, taught):
        """The taught samples to imitate (bool), or None for all of them."""
        return None


class AdvantageFilter(TeacherTerm):
    """--teacher_filter advantage: a sample imitates only where its (raw GAE) advantage agrees with the teacher: the
    student took the teacher's most likely action and did at least as well as its critic expected, or another
    action and did worse (the binary advantage filter of Critic Regularized Regression, Wang et al. 2020, with the
    teacher's action as the one to clone)."""
    name = "advantage"
    filters = True

    def keep(self, batch, idx, teacher, taught):
        action, advantage = batch["action"][idx], batch["advantage"][idx]
        took_teachers = teacher.gather(-1, action[:, None]).squeeze(-1) >= teacher.max(-1).values - 1e-6
        return taught & (took_teachers == (advantage >= 0))


FILTERS = {cls.name: cls for cls in (TeacherTerm, AdvantageFilter)}


def make_teacher_term(config):
    return FILTERS[config.teacher_filter](config.teacher_smoothing)
