"""A one-state task's student for the teacher-term tests: a policy over the 7 actions and a value as free
parameters."""
import torch
from torch import nn

from teacher.policy import N_ACTIONS


class Bandit(nn.Module):
    """One state, a policy and a value as free parameters."""
    recurrent = False

    def __init__(self):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(N_ACTIONS))
        self.v = nn.Parameter(torch.zeros(()))

    def forward(self, obs):
        n = obs.shape[0]
        return self.logits.expand(n, N_ACTIONS), self.v.expand(n), None


def sample(model, n, generator):
    """n actions sampled from the student's policy in its one state: (the policy, actions, their log-probs,
    the value estimates)."""
    with torch.no_grad():
        logits, value, _ = model(torch.zeros(n, 1))
        dist = torch.distributions.Categorical(logits=logits)
        action = torch.multinomial(dist.probs, 1, generator=generator).squeeze(-1)
        return dist, action, dist.log_prob(action), value.clone()


def one_step_batch(action, logp, value, reward, teacher):
    """A PPO batch of one-step episodes (one env column per sample), the advantage the reward minus the value."""
    n = action.shape[0]
    return {"obs": torch.zeros(n, 1, 1), "action": action[:, None], "logp": logp[:, None], "value": value[:, None],
            "advantage": (reward - value)[:, None], "return": reward[:, None], "teacher": teacher}
