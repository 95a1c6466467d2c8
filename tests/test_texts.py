"""How many texts a task shows its teacher (algos/experiments/texts.py, bench/texts.py): the coverage arithmetic,
the random walk's texts are the planner's own, a training's texts are counted from its pool, and a live-LLM run's
metrics.csv gives the texts asked and the taught share over env steps."""
import importlib.util
import json
import os
from collections import Counter

import pytest

import main
from algos.experiments.texts import SHARES, TOPS, live_llm_progress, random_walk, summary, training_texts
from tests.helpers import ROOT, tiny_train_args
from tests.llm_fakes import FakeChatServer, Reply
from tests.test_plan_cache import TEXTS, answer_for


def test_coverage_and_the_texts_needed():
    counts = Counter({f"t{i}": v for i, v in enumerate([50, 30, 10, 5, 3, 1, 1])})  # 100 visits
    coverage, needed, once = summary(counts)
    assert set(coverage) == set(TOPS) and set(needed) == set(SHARES)
    assert coverage[10] == coverage[100] == 1.0 and once == 2
    assert needed == {0.5: 1, 0.8: 2, 0.95: 4}
    many = Counter({i: 1 for i in range(2000)})
    coverage, needed, _ = summary(many)
    assert coverage == {10: 0.005, 100: 0.05, 1000: 0.5} and needed[0.5] == 1000


def test_a_random_walk_counts_the_texts_the_planner_is_asked():
    r = random_walk("SimpleDoorKey", steps=400, n_envs=2, seed=3)
    assert r.env_steps == 400 and r.visits == 402  # each env's first observation, then one per step
    assert 1 <= r.distinct <= len(TEXTS) and {t for t, _ in r.top} <= set(TEXTS)  # the recorded table's texts
    assert sum(n for _, n in r.top) == r.visits and r.untexted == 0
    assert r.growth[-1] == (400, r.distinct)
    again = random_walk("SimpleDoorKey", steps=400, n_envs=2, seed=3)
    assert again.top == r.top  # seeded
    assert "| SimpleDoorKey | random walk | 400 |" in _bench().markdown([r])


def test_a_trainings_texts_are_counted_from_its_envs():
    small = {"traj_per_itr": 2, "batch_size": 32}
    r = training_texts("SimpleDoorKey", steps=200, num_envs=2, **small)
    assert r.env_steps >= 200 and r.visits >= r.env_steps and r.untexted == 0
    assert 1 <= r.distinct <= len(TEXTS) and "no answers" in r.source
    taught = training_texts("SimpleDoorKey", steps=200, answers="official", num_envs=2, **small)
    assert taught.distinct >= 1 and "official" in taught.source
    off = training_texts("SimpleDoorKey", steps=200, num_envs=2, teacher_off_after=0, **small)
    assert off.distinct == 0 and off.untexted == off.visits  # the teacher off: no text is described


def test_a_live_llm_runs_texts_asked_and_taught_share(tmp_path):
    def responder(i, body):
        return Reply.answers([answer_for(body)] * int(body.get("n") or 1))

    with FakeChatServer(responder) as fake:
        extra = ["--llm_url", fake.url, "--n_ask", "1", "--plan_cache", str(tmp_path / "cache.json")]
        assert main.main(tiny_train_args(tmp_path, "live", n_itr=3, extra=extra)) == 0
    run_dir = os.path.join(tmp_path, "ppo", "SimpleDoorKey", "live-0")
    rows = live_llm_progress(run_dir, marks=(1,))
    assert len(rows) == 2  # the first row past 1 env step, and the last
    last = rows[-1]
    assert last.asked >= 1 and last.answered is not None and last.waiting is not None
    assert last.asked == last.answered + last.waiting and 0.0 <= last.taught_share <= 1.0


def _bench():
    spec = importlib.util.spec_from_file_location("bench_texts", f"{ROOT}/bench/texts.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_the_bench_script_writes_its_table_and_numbers(tmp_path, capsys):
    out = tmp_path / "t.json"
    assert _bench().main(["--tasks", "SimpleDoorKey", "--steps", "200", "--json", str(out), "--md",
                          str(tmp_path / "t.md")]) == 0
    assert "| SimpleDoorKey | random walk | 200 |" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["random_walk"][0]["env_steps"] == 200 and data["training"] == [] and data["machine"]
    assert "Machine:" in (tmp_path / "t.md").read_text()


def test_the_bench_script_refuses_negative_budgets():
    from utils.errors import UserError
    with pytest.raises(UserError):
        _bench().main(["--tasks", "SimpleDoorKey", "--steps", "-1"])
