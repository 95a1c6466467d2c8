"""The offline cloning of a MiniWorld teacher (algos/learner/clone.py, which bench/miniworld_imitation.py and the warm
start share): its recurrent minibatches give every episode the logits the LSTM student gives it acting step by step,
with the targets of the same steps; the bench runs end to end with --recurrent."""
import importlib.util

import numpy as np
import pytest
import torch

from algos.learner import clone
from algos.learner.model import ActorCritic
from utils.errors import UserError
from tests.helpers import ROOT


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_imitation", f"{ROOT}/bench/miniworld_imitation.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_recurrent_minibatches_are_whole_episodes_as_the_student_acts_them():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = ActorCritic((60, 80, 3), n_actions=5, recurrent=True, encoder="pixels")
    lengths = [5, 3, 7]
    images = rng.integers(0, 256, (sum(lengths), 60, 80, 3), dtype=np.uint8)
    targets = rng.dirichlet(np.ones(5), sum(lengths)).astype(np.float32)
    starts = np.zeros(sum(lengths), dtype=bool)
    starts[np.cumsum([0] + lengths[:-1])] = True
    assert clone.episodes(starts) == [(0, 5), (5, 8), (8, 15)]
    assert clone.episodes(starts, seq_len=3) == [(0, 3), (3, 5), (5, 8), (8, 11), (11, 14), (14, 15)]
    order = np.array([2, 0, 1])
    with torch.no_grad():
        (logits, t), = clone.batches(model, images, targets, starts, order, size=3)
        expected = []
        for s, j in [(8, 15), (0, 5), (5, 8)]:
            state = model.initial_state(1)
            for i in range(s, j):
                step, _, state = model(torch.from_numpy(images[i:i + 1]), state)
                expected.append(step[0])
    assert logits.shape == (15, 5)
    assert torch.allclose(logits, torch.stack(expected), atol=1e-5)
    assert np.array_equal(t.numpy(), np.concatenate([targets[8:15], targets[0:5], targets[5:8]]))
    assert clone.kl(model, images, targets, starts) > 0


def test_the_bench_clones_into_the_lstm_student_end_to_end(capsys, monkeypatch):
    bench = load_bench()
    built = []
    monkeypatch.setattr(bench, "ActorCritic", lambda *a, **k: built.append(ActorCritic(*a, **k)) or built[-1])
    assert bench.main(["--task", "MiniWorld-PutNext-v0", "--steps", "60", "--heldout", "30", "--epochs", "1",
                       "--eval", "1", "--recurrent", "--lstm_residual", "--batch_size", "2"]) == 0
    assert built[0].recurrent and built[0].lstm_residual
    out = capsys.readouterr().out
    assert "60 training and 30 held-out teacher steps" in out
    assert "epoch 1: KL(teacher || student) train" in out and "the cloned student alone" in out


def test_the_bench_refuses_a_residual_core_without_the_lstm():
    bench = load_bench()
    with pytest.raises(UserError, match="--lstm_residual is a setting of the LSTM student"):
        bench.main(["--lstm_residual"])


def test_the_feed_forward_clone_is_also_measured_apart_on_the_steps_holding_an_object(capsys):
    import re
    assert load_bench().main(["--task", "MiniWorld-PutNext-v0", "--steps", "60", "--heldout", "300", "--epochs",
                              "1", "--eval", "0"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("epoch 1:"))
    total, share, holding, others = map(float, re.search(
        r"held-out ([0-9.]+) \(holding an object, ([0-9.]+) of the steps: ([0-9.]+); the others ([0-9.]+)\)",
        line).groups())
    assert 0 < share < 1  # the teacher picked the red box up within the held-out steps
    assert total == pytest.approx(share * holding + (1 - share) * others, abs=0.01)  # the two parts make the whole
