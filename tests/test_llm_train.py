"""End to end with the real local LLM (SmolLM2-135M behind llama-cpp-python's OpenAI-compatible server):
train a few iterations of SimpleDoorKey with --llm_url and the grammar; a rerun on the same cache asks nothing.
Skipped only when llama_cpp is not installed (scripts/install_llm.sh installs it; CI runs that script)."""
import importlib.util
import json
import re

import numpy as np
import pytest

import env
import main
from planner.factory import build_planner
from teacher.mediator import parse_plan
from teacher.policy import TeacherPolicy
from tests.helpers import planner_config, read_metrics, tiny_train_args
from planner.task_spec import task_config

if importlib.util.find_spec("llama_cpp") is None:
    pytest.skip("llama_cpp (llama-cpp-python) is not installed; run: bash scripts/install_llm.sh",
                allow_module_level=True)

from planner.servers import llama as local_llm  # noqa: E402


def queries(out):
    match = re.search(r"LLM: (\d+) queries", out)
    assert match, out
    return int(match.group(1))


def test_training_with_the_local_llm_teacher_and_a_persistent_cache(tmp_path, capsys):
    cache = tmp_path / "plans.json"
    with local_llm.running_server(startup_timeout=180) as url:
        # every env waits for each answer (--llm_wait always), so the second run meets only cached texts
        llm = ["--llm_url", url, "--llm_grammar", "--n_ask", "2", "--llm_seed", "1", "--plan_cache", str(cache),
               "--llm_wait", "always"]
        first = tiny_train_args(tmp_path, "llm", n_itr=2, extra=["--workers", "2", *llm])
        assert main.main(first) == 0
        out = capsys.readouterr().out
        assert queries(out) > 0 and "0 invalid" in out
        assert cache.exists()
        rows = read_metrics(tmp_path / "ppo" / "SimpleDoorKey" / "llm-0")
        assert float(rows[-1]["LLM/queries"]) == queries(out) and float(rows[-1]["LLM/invalid_answers"]) == 0
        entries = json.loads(cache.read_text())
        assert entries
        # every cached plan parses into options, and the teacher turns them into a distribution
        args = planner_config(*llm)
        cfg = task_config("SimpleDoorKey")
        planner = build_planner(args, cfg, str(tmp_path))
        e = env.make_env(cfg["env_id"])
        obs, _ = e.reset(seed=0)
        teacher = TeacherPolicy(planner, cfg["object_names"], rng=np.random.default_rng(0))
        for _ in range(20):
            probs = teacher(obs)
            assert probs.shape == (7,) and abs(probs.sum() - 1) < 1e-6 and (probs >= 0).all()
            for plan, p in planner.plans(teacher.last_text):
                assert parse_plan(plan) and 0 < p <= 1
            obs, *_ = e.step(int(np.argmax(probs)))
        planner.close()
        # a second run on the same cache (same seed, so the same texts) makes zero queries
        assert main.main(tiny_train_args(tmp_path, "llm2", n_itr=2, extra=["--workers", "0", *llm])) == 0
        out = capsys.readouterr().out
        assert queries(out) == 0 and re.search(r"[1-9]\d* cache hits", out)


def test_a_run_from_the_exported_answers_of_the_real_llm_is_the_live_run(tmp_path, capsys, monkeypatch):
    """Train with SmolLM2 (logprobs planner), export its answers as a named table, train from the table with no
    server: the same run (the teacher's distributions are the live ones)."""
    from planner import answer_tables, export_cache
    monkeypatch.setattr(answer_tables, "ANSWERS_DIR", tmp_path / "answers")
    cache = tmp_path / "plans.json"
    with local_llm.running_server(startup_timeout=180) as url:
        # waiting for every answer (--llm_wait always), so every sample has the teacher's live distribution
        llm = ["--llm_url", url, "--llm_plans", "logprobs", "--plan_cache", str(cache), "--llm_timeout", "120",
               "--llm_wait", "always"]
        assert main.main(tiny_train_args(tmp_path, "live", n_itr=2, extra=llm)) == 0
    export_cache.export(cache, "SimpleDoorKey", "smollm2-test")
    assert answer_tables.provenance(task_config("SimpleDoorKey"), "smollm2-test")["model"] == local_llm.MODEL_ALIAS
    capsys.readouterr()
    assert main.main(tiny_train_args(tmp_path, "table", n_itr=2, extra=["--answers", "smollm2-test"])) == 0
    assert "missing_texts 0" in capsys.readouterr().out
    drop = ("LLM/", "Teacher/Missing")
    live, table = (read_metrics(tmp_path / "ppo" / "SimpleDoorKey" / f"{n}-0") for n in ("live", "table"))
    assert len(live) == len(table) == 2
    for a, b in zip(live, table):
        keys = [k for k in a if not k.startswith(drop)]
        assert keys == [k for k in b if not k.startswith(drop)]
        assert [float(a[k]) for k in keys] == pytest.approx([float(b[k]) for k in keys], rel=1e-6, abs=1e-9)
