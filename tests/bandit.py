"""A one-state task's student for the teacher-term tests: a policy over the 7 actions and a value as free
parameters."""
import torch
from torch import nn

N_ACTIONS = 7


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
