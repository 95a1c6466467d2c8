"""--teacher_filter trust: the teacher term imitates only the observation texts where the student's steps that took
the teacher's action did at least as well as those that did not (advantages pooled per text; algos/learner/text_trust.py)."""
import dataclasses
import os

import numpy as np
import pytest
import torch
from torch import nn

import main
from algos.config import Config
from algos.learner.ppo import PPO
from algos.learner.text_trust import TRUST_MIN_SAMPLES, TextTrust
from teacher.policy import N_ACTIONS
from tests.helpers import read_metrics, tiny_train_args
from utils.checkpoint_file import load_checkpoint

GOOD, BAD = 11, 22  # two text ids


def batch_of(text, action, advantage, teacher_action=0, guided=None):
    n = len(text)
    teacher = torch.zeros(n, 1, N_ACTIONS)
    teacher[..., teacher_action] = 1.0
    batch = {"text": torch.tensor(text)[:, None], "action": torch.tensor(action)[:, None],
             "advantage": torch.tensor(advantage, dtype=torch.float32)[:, None], "teacher": teacher}
    if guided is not None:
        batch["guided"] = torch.tensor(guided)[:, None]
    return batch


def evidence(rng, text, n, follow_mean, other_mean):
    """n steps on `text`, half taking the teacher's action 0 (advantage ~ follow_mean), half action 3."""
    action = np.where(np.arange(n) % 2 == 0, 0, 3)
    adv = np.where(action == 0, follow_mean, other_mean) + rng.normal(0, 0.1, n)
    return [text] * n, action.tolist(), adv.tolist()


def test_a_text_is_distrusted_when_following_its_teacher_does_worse_and_trusted_again_when_it_does_not():
    rng = np.random.default_rng(0)
    trust = TextTrust()
    t1, a1, v1 = evidence(rng, GOOD, 100, 0.3, -0.1)
    t2, a2, v2 = evidence(rng, BAD, 100, -0.2, 0.4)
    weights = trust.update(batch_of(t1 + t2, a1 + a2, v1 + v2))
    assert weights.shape == (200, 1)
    assert weights[:100].eq(1).all() and weights[100:].eq(0).all()
    assert trust.metrics() == {"Teacher/Distrusted Texts": 1, "Teacher/Judged Texts": 2}
    # an unseen text is imitated
    assert trust.weights(np.array([GOOD, BAD, 33])).tolist() == [1.0, 0.0, 1.0]
    # the student stops following on BAD: too few followed steps to judge, the verdict stays
    only_other = batch_of([BAD] * 40, [3] * 40, rng.normal(0.4, 0.1, 40).tolist())
    for _ in range(30):
        assert trust.update(only_other).eq(0).all()
    # later, following pays there: trusted again
    t3, a3, v3 = evidence(rng, BAD, 200, 0.5, 0.0)
    assert trust.update(batch_of(t3, a3, v3)).eq(1).all()


def test_noise_and_the_teachers_roll_ins_are_not_evidence():
    rng = np.random.default_rng(1)
    trust = TextTrust()
    # followed and not followed do the same up to noise: never distrusted
    for _ in range(20):
        t, a, v = evidence(rng, GOOD, 200, 0.0, 0.0)
        assert trust.update(batch_of(t, a, v)).eq(1).all()
    # a difference far below the margin is not evidence even when very many samples make it significant
    t, a, _ = evidence(rng, BAD, 20000, 0.0, 0.0)
    v = np.where(np.array(a) == 0, 0.0, 0.005).tolist()
    assert trust.update(batch_of(t, a, v)).eq(1).all()
    # roll-in steps (the teacher acting) are left out: with only those, BAD is never judged
    fresh = TextTrust()
    t, a, v = evidence(rng, BAD, 200, -0.5, 0.5)
    assert fresh.update(batch_of(t, a, v, guided=[True] * 200)).eq(1).all()
    assert fresh.metrics()["Teacher/Judged Texts"] == 0
    assert TRUST_MIN_SAMPLES > 1


def test_state_dict_restores_the_trust_exactly_and_junk_is_refused():
    rng = np.random.default_rng(2)
    trust = TextTrust()
    for text, f, o in ((GOOD, 0.3, 0.0), (BAD, -0.3, 0.3)):
        trust.update(batch_of(*evidence(rng, text, 100, f, o)))
    copy = TextTrust()
    copy.load_state_dict(trust.state_dict())
    assert copy.state_dict() == trust.state_dict()
    nxt = batch_of(*evidence(rng, BAD, 60, 0.3, -0.3))
    assert torch.equal(copy.update(nxt), trust.update(nxt)) and copy.state_dict() == trust.state_dict()
    with pytest.raises((ValueError, KeyError, TypeError)):
        TextTrust().load_state_dict({"ids": [2, 1], "sums": [[0] * 6] * 2, "trusted": [True, True]})


class TwoStates(nn.Module):
    """Two states (the observation is the state's index), a policy and a value per state as free parameters."""
    recurrent = False

    def __init__(self):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(2, N_ACTIONS))
        self.v = nn.Parameter(torch.zeros(2))

    def forward(self, obs):
        s = obs.reshape(obs.shape[0], -1)[:, 0].long()
        return self.logits[s], self.v[s], None


def train_two_states(teacher_filter, iterations=100, n=128):
    """State 0: the teacher says action 0, the rewarded one. State 1: the teacher says action 0 too, but only
    action 1 is rewarded there. The teacher term's weight is 10 throughout."""
    torch.manual_seed(0)
    config = dataclasses.replace(Config(), teacher_filter=teacher_filter, lr=0.01, epochs=4, batch_size=64)
    model = TwoStates()
    ppo = PPO(model, config)
    state = torch.arange(n) % 2
    teacher = torch.zeros(n, 1, N_ACTIONS)
    teacher[..., 0] = 1.0
    gen = torch.Generator().manual_seed(1)
    for _ in range(iterations):
        with torch.no_grad():
            logits, value, _ = model(state.float()[:, None])
            dist = torch.distributions.Categorical(logits=logits)
            action = torch.multinomial(dist.probs, 1, generator=gen).squeeze(-1)
            logp, value = dist.log_prob(action), value.clone()
        reward = torch.where(state == 0, action == 0, action == 1).float()
        batch = {"obs": state.float()[:, None, None], "action": action[:, None], "logp": logp[:, None],
                 "value": value[:, None], "advantage": (reward - value)[:, None], "return": reward[:, None],
                 "teacher": teacher, "text": (state + 1)[:, None]}
        ppo.update(batch, coef=10.0, generator=torch.Generator().manual_seed(2))  # (trust: ppo.trust's weights)
    return torch.softmax(model.logits.detach(), -1), ppo.trust


def test_the_student_learns_past_its_teacher_on_the_text_where_it_is_wrong_and_follows_it_where_it_is_right():
    obeying, _ = train_two_states("none")
    trusting, trust = train_two_states("trust")
    assert obeying[1, 0] > 0.9 and obeying[1, 1] < 0.05       # the plain term holds the student on the wrong action
    assert trusting[1, 1] > 0.9                               # the trusting student learns the rewarded action there
    assert trusting[0, 0] > 0.9                               # and still does what its teacher says in state 0
    assert trust.weights(np.array([1, 2])).tolist() == [1.0, 0.0]


def test_a_trust_run_logs_its_texts_and_resume_restores_the_trust_exactly(tmp_path):
    extra = ["--teacher_filter", "trust"]
    task_dir = os.path.join(tmp_path, "ppo", "SimpleDoorKey")
    assert main.main(tiny_train_args(tmp_path, "straight", n_itr=6, extra=extra)) == 0
    assert main.main(tiny_train_args(tmp_path, "part", n_itr=3, extra=extra)) == 0
    part = os.path.join(task_dir, "part-0")
    assert main.main(["train", "--resume", part, "--n_itr", "6"]) == 0
    want = read_metrics(os.path.join(task_dir, "straight-0"))
    assert read_metrics(part) == want
    assert all(0.0 <= float(r["Teacher/Imitated Share"]) <= 1.0 for r in want)
    assert all(int(r["Teacher/Distrusted Texts"]) >= 0 for r in want)
    straight = load_checkpoint(os.path.join(task_dir, "straight-0", "checkpoints", "latest.pt"))["text_trust"]
    resumed = load_checkpoint(os.path.join(part, "checkpoints", "latest.pt"))["text_trust"]
    assert len(straight["ids"]) > 0 and straight == resumed
