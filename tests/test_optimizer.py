"""The student's Adam runs torch's fused kernel: the per-tensor Adam's update up to float rounding, and still the
fused kernel, with the same moments, after a checkpoint's optimizer state is loaded (as --resume and --fork do)."""
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


def test_fused_adam_is_the_per_tensor_update_and_survives_a_checkpoint():
    config = Config(task="SimpleDoorKey")
    torch.manual_seed(0)
    ref_model = build_model(config, (7, 7, 4), "cpu")
    ref = torch.optim.Adam(ref_model.parameters(), lr=config.lr, eps=config.adam_eps, foreach=False)
    model = build_model(config, (7, 7, 4), "cpu")
    model.load_state_dict(ref_model.state_dict())
    ppo = PPO(model, config)
    assert all(group["fused"] for group in ppo.optimizer.param_groups)
    for seed in range(3):
        _step(ref, ref_model, seed)
        _step(ppo.optimizer, model, seed)
    for a, b in zip(ref_model.parameters(), model.parameters()):  # the same update up to float rounding
        assert torch.allclose(a, b, rtol=0, atol=1e-6)

    saved = copy.deepcopy(ppo.optimizer.state_dict())  # as read from a checkpoint file: not the optimizer's tensors
    resumed_model = build_model(config, (7, 7, 4), "cpu")
    resumed_model.load_state_dict(model.state_dict())
    resumed = PPO(resumed_model, config)
    resumed.optimizer.load_state_dict(saved)
    assert all(group["fused"] and not group["foreach"] for group in resumed.optimizer.param_groups)
    first, resumed_first = next(iter(model.parameters())), next(iter(resumed_model.parameters()))
    assert torch.equal(resumed.optimizer.state[resumed_first]["exp_avg"], ppo.optimizer.state[first]["exp_avg"])
    # one more step from the same moments: exactly the step of the optimizer that was never saved
    _step(ppo.optimizer, model, 3)
    _step(resumed.optimizer, resumed_model, 3)
    for a, b in zip(model.parameters(), resumed_model.parameters()):
        assert torch.equal(a, b)
    assert float(resumed.optimizer.state[resumed_first]["step"]) == 4
