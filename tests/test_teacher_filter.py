"""--teacher_filter advantage: the teacher term imitates a sample only where its advantage agrees with the teacher.
A wrong teacher cannot hold the student back: in a one-state task whose reward is for an action the teacher never
takes, the filtered student learns that action while the unfiltered one obeys its teacher."""
import dataclasses

import pytest
import torch

from algos.config import Config
from algos.learner.ppo import PPO
from algos.learner.teacher_term import FILTERS, AdvantageFilter, TeacherTerm, make_teacher_term
from tests.bandit import N_ACTIONS, Bandit, one_step_batch, sample


def test_the_filter_keeps_exactly_the_samples_whose_advantage_agrees_with_the_teacher():
    teacher = torch.zeros(5, N_ACTIONS)
    teacher[:4, 0] = 1.0                     # the teacher's action is 0; the last sample was not taught
    action = torch.tensor([0, 0, 3, 3, 0])
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0])
    logits = torch.randn(5, N_ACTIONS, generator=torch.Generator().manual_seed(0))
    batch = dict(action=action, logp=torch.zeros(5), value=torch.zeros(5), advantage=adv, **{"return": adv},
                 teacher=teacher)
    idx = torch.arange(5)
    ce = -torch.log_softmax(logits, -1)[:, 0]
    log_probs = torch.log_softmax(logits, -1)
    plain_loss, plain_kl, plain_imitated = TeacherTerm()(log_probs, TeacherTerm().prepare(batch), idx)
    loss, kl, imitated = AdvantageFilter()(log_probs, AdvantageFilter().prepare(batch), idx)
    assert float(plain_loss) == pytest.approx(float(ce[:4].mean())) and plain_imitated is None
    assert float(plain_kl) == pytest.approx(float(ce[:4].mean()))  # a one-hot teacher: KL = cross-entropy
    # kept: took the teacher's action and did better (0), took another and did worse (3); over the 4 taught
    assert float(loss) == pytest.approx(float((ce[0] + ce[3]) / 4))
    assert float(imitated) == pytest.approx(0.5)
    assert float(kl) == pytest.approx(float(plain_kl))  # KL: every taught sample


def test_teacher_filter_names_its_term():
    assert set(FILTERS) == {"none", "advantage"}
    for name, cls in (("none", TeacherTerm), ("advantage", AdvantageFilter)):
        term = make_teacher_term(dataclasses.replace(Config(), teacher_filter=name, teacher_smoothing=0.1))
        assert type(term) is cls and term.smoothing == 0.1 and term.filters == (name != "none")


def train_against_a_wrong_teacher(teacher_filter, iterations=80, n=128):
    torch.manual_seed(0)
    config = dataclasses.replace(Config(), teacher_filter=teacher_filter, lr=0.01, epochs=4, batch_size=64)
    model = Bandit()
    ppo = PPO(model, config)
    teacher = torch.zeros(n, 1, N_ACTIONS)
    teacher[..., 0] = 1.0                    # the teacher always says action 0 ...
    gen = torch.Generator().manual_seed(1)
    for _ in range(iterations):
        _, action, logp, value = sample(model, n, gen)
        reward = (action == 1).float()       # ... but only action 1 is rewarded
        ppo.update(one_step_batch(action, logp, value, reward, teacher), coef=10.0,
                   generator=torch.Generator().manual_seed(2))
    return torch.softmax(model.logits.detach(), -1)


def test_a_wrong_teacher_holds_back_the_unfiltered_student_but_not_the_filtered_one():
    obeying = train_against_a_wrong_teacher("none")
    filtered = train_against_a_wrong_teacher("advantage")
    assert obeying[0] > 0.9 and obeying[1] < 0.05
    assert filtered[1] > 0.9 and filtered[0] < 0.05


def test_a_filtered_run_logs_the_share_of_samples_it_imitated(tmp_path):
    import glob

    import main
    from tests.helpers import read_metrics, tiny_train_args
    assert main.main(tiny_train_args(tmp_path, extra=["--teacher_filter", "advantage"])) == 0
    rows = read_metrics(glob.glob(str(tmp_path / "ppo" / "SimpleDoorKey" / "t-0"))[0])
    shares = [float(r["Teacher/Imitated Share"]) for r in rows]
    assert len(shares) == 2 and all(0.0 <= s <= 1.0 for s in shares)
