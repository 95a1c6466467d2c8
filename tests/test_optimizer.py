"""The student's Adam runs torch's fused kernel, also after loading a checkpoint written by the per-tensor Adam
of earlier versions (whose saved groups carry their own kernel flags), with that checkpoint's moments."""
import copy

import torch

from algos.run.checkpoint import build_model
from algos.config import Config
from algos.learner.ppo import PPO


def _step(optimizer, model, seed):
    g = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=g)
    optimizer.step()


def test_fused_adam_after_a_per_tensor_checkpoint():
    config = Config(task="SimpleDoorKey")
    torch.manual_seed(0)
    old_model = build_model(config, (7, 7, 4), "cpu")
    old = torch.optim.Adam(old_model.parameters(), lr=config.lr, eps=config.adam_eps, foreach=False)
    for seed in range(3):
        _step(old, old_model, seed)
    saved = copy.deepcopy(old.state_dict())  # as read from a checkpoint file: not the old optimizer's tensors
    assert saved["param_groups"][0]["fused"] is None

    model = build_model(config, (7, 7, 4), "cpu")
    model.load_state_dict(old_model.state_dict())
    ppo = PPO(model, config)
    assert all(group["fused"] for group in ppo.optimizer.param_groups)
    ppo.load_optimizer(saved)
    assert all(group["fused"] and not group["foreach"] for group in ppo.optimizer.param_groups)
    first = next(iter(model.parameters()))
    assert torch.equal(ppo.optimizer.state[first]["exp_avg"], old.state[next(iter(old_model.parameters()))]["exp_avg"])
    # one more step from the same moments: the fused kernel's update is the per-tensor one up to float rounding
    _step(old, old_model, 3)
    _step(ppo.optimizer, model, 3)
    for a, b in zip(old_model.parameters(), model.parameters()):
        assert torch.allclose(a, b, rtol=0, atol=1e-6)
    assert float(ppo.optimizer.state[first]["step"]) == 4
