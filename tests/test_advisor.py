"""--teacher_filter advisor: ADVISOR's imitation-gap weight. An imitator head learns to imitate the teacher alone; a
sample's imitation is weighted by exp(-alpha x the imitator's cross-entropy with the teacher), so where the teacher
acts on what the student cannot see (its action is not predictable from the observation), the student is left to
RL, and where it can be imitated, it is."""
import dataclasses
import glob
import pytest
import torch
from torch import nn

import main
from algos.config import Config
from algos.learner.ppo import PPO, ppo_losses
from teacher.policy import N_ACTIONS
from tests.helpers import read_metrics, tiny_train_args


def test_each_sample_is_weighted_by_how_well_the_imitator_predicts_the_teacher():
    teacher = torch.zeros(3, N_ACTIONS)
    teacher[0, 2] = teacher[1, 5] = 1.0                     # the last sample was not taught
    logits = torch.randn(3, N_ACTIONS, generator=torch.Generator().manual_seed(0))
    imitator = torch.randn(3, N_ACTIONS, generator=torch.Generator().manual_seed(1))
    zeros = torch.zeros(3)
    batch = dict(action=torch.tensor([0, 1, 2]), logp=zeros, value=zeros, advantage=zeros, **{"return": zeros},
                 teacher=teacher)
    terms = ppo_losses(logits, zeros, batch, torch.arange(3), 0.2, 1.0, norm_adv=False, imitator_logits=imitator,
                       gap_alpha=2.0)
    ce = -torch.log_softmax(logits, -1)[[0, 1], [2, 5]]
    imitator_ce = -torch.log_softmax(imitator, -1)[[0, 1], [2, 5]]
    weight = torch.exp(-2.0 * imitator_ce)
    assert float(terms["teacher"]) == pytest.approx(float((weight * ce).mean() + imitator_ce.mean()), rel=1e-5)
    assert float(terms["imitated"]) == pytest.approx(float(weight.mean()), rel=1e-5)
    # the weight is not differentiated: the imitator is trained by its own cross-entropy only
    imitator.requires_grad_(True)
    terms = ppo_losses(logits, zeros, batch, torch.arange(3), 0.2, 1.0, norm_adv=False, imitator_logits=imitator,
                       gap_alpha=2.0)
    terms["teacher"].backward()
    expected = torch.softmax(imitator.detach(), -1)[:2] - teacher[:2]
    assert torch.allclose(imitator.grad[:2], expected / 2, atol=1e-6) and not imitator.grad[2].any()


class TwoStates(nn.Module):
    """Two observations (0, 1); the policy, the imitator and the value of each are free parameters."""
    recurrent = False

    def __init__(self):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(2, N_ACTIONS))
        self.imitator = nn.Parameter(torch.zeros(2, N_ACTIONS))
        self.v = nn.Parameter(torch.zeros(2))
        self._states = None

    def forward(self, obs):
        self._states = obs.reshape(obs.shape[0], -1)[:, 0].long()
        return self.logits[self._states], self.v[self._states], None

    def imitator_logits(self):
        return self.imitator[self._states]


def train_with_a_teacher_that_sees_more(teacher_filter, iterations=60, n=256):
    """State 0: the teacher always takes action 3, which is rewarded. State 1: the teacher takes action 0 or 1 by a
    coin the student never sees (its privileged information), while action 2 is always rewarded there."""
    torch.manual_seed(0)
    config = dataclasses.replace(Config(), teacher_filter=teacher_filter, lr=0.05, epochs=4, batch_size=64)
    model = TwoStates()
    ppo = PPO(model, config)
    gen = torch.Generator().manual_seed(1)
    obs = (torch.arange(n) % 2).float().reshape(n, 1, 1, 1)
    state = obs.reshape(n).long()
    weights = []
    for _ in range(iterations):
        with torch.no_grad():
            logits, value, _ = model(obs)
            dist = torch.distributions.Categorical(logits=logits)
            action = torch.multinomial(dist.probs, 1, generator=gen).squeeze(-1)
            logp = dist.log_prob(action)
            value = value.clone()
        coin = torch.randint(0, 2, (n,), generator=gen)
        teacher = torch.zeros(n, N_ACTIONS)
        teacher[torch.arange(n), torch.where(state == 0, torch.full_like(coin, 3), coin)] = 1.0
        reward = torch.where(state == 0, (action == 3).float(), (action == 2).float())
        batch = {"obs": obs[:, None], "action": action[:, None], "logp": logp[:, None], "value": value[:, None],
                 "advantage": (reward - value)[:, None], "return": reward[:, None], "teacher": teacher[:, None]}
        ppo.update(batch, coef=10.0, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            weights.append(torch.exp(-config.teacher_gap_alpha * -torch.log_softmax(model.imitator, -1)
                                     [[0, 1, 1], [3, 0, 1]]))
    return torch.softmax(model.logits.detach(), -1), weights[-1]


def test_the_student_imitates_where_it_can_and_learns_from_reward_where_the_teacher_sees_more():
    obeying, _ = train_with_a_teacher_that_sees_more("none")
    advised, weight = train_with_a_teacher_that_sees_more("advisor")
    # where the teacher can be imitated, both students act as it does
    assert obeying[0, 3] > 0.9 and advised[0, 3] > 0.9
    # where it cannot, the imitating student averages its teacher's two actions and never takes the rewarded one;
    # the advised student takes the rewarded one
    assert obeying[1, 2] < 0.05 and obeying[1, 0] + obeying[1, 1] > 0.9
    assert advised[1, 2] > 0.5
    assert float(weight[0]) > 0.9                         # state 0: imitated at nearly the full weight
    assert float(weight[1:].max()) < 0.2                  # state 1: about exp(-alpha ln 2) = 0.06 for each action


def test_an_advisor_run_logs_its_mean_weight_and_its_student_evaluates_and_forks_back(tmp_path):
    assert main.main(tiny_train_args(tmp_path, extra=["--teacher_filter", "advisor"])) == 0
    run = glob.glob(str(tmp_path / "ppo" / "SimpleDoorKey" / "t-0"))[0]
    shares = [float(r["Teacher/Imitated Share"]) for r in read_metrics(run)]
    assert len(shares) == 2 and all(0.0 < s < 1.0 for s in shares)
    # a student without the imitator head can still be evaluated from it, and a fork must keep the filter
    assert main.main(["eval", "--task", "SimpleDoorKey", "--loaddir", run, "--num_eval", "1", "--logdir",
                      str(tmp_path)]) == 0
    assert main.main(tiny_train_args(tmp_path, savedir="plain")) == 0
    bad = tiny_train_args(tmp_path, savedir="f", n_itr=3, extra=["--teacher_filter", "advisor", "--fork",
                                                                 str(tmp_path / "ppo" / "SimpleDoorKey" / "plain-0")])
    assert main.main(bad) == 2
