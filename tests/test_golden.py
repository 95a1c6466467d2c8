"""Restructuring changes no result: a few iterations of every task (and the soft-planner and LSTM students) give
the metrics recorded in tests/golden/metrics.json by the code before the restructure (same seed, same flags).

Losses are compared to 6 significant digits (float sums may differ in the last bits on another CPU); everything
else (env steps, returns, lengths, success, counters) exactly."""
import json
import math
import os

import pytest

import main
from tests.helpers import read_metrics

GOLDEN = json.load(open(os.path.join(os.path.dirname(__file__), "golden", "metrics.json")))


def same(a, b):
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_metrics_match_the_recorded_ones(tmp_path, name):
    case = GOLDEN[name]
    args = list(case["args"])
    args[args.index("--logdir") + 1] = str(tmp_path)
    assert main.main(["train", *args]) == 0
    task = args[args.index("--task") + 1]
    rows = read_metrics(tmp_path / "ppo" / task / "g-5")
    assert len(rows) == len(case["rows"])
    for got, want in zip(rows, case["rows"]):
        for key, value in want.items():
            assert same(got.get(key), value), (name, got["iteration"], key, got.get(key), value)
