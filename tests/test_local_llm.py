"""The real local LLM (SmolLM2-135M via llama-cpp-python's server) with the grammar: every answer parses; any GGUF
file served by path (the two shipped models).

The tests of the real server are skipped only when llama_cpp cannot be imported (install it with
`bash scripts/install_llm.sh`); a missing model file with llama_cpp present is a failure.
"""
import importlib.util
import re

import pytest

from planner.servers import llama as local_llm
from planner.answers import extract_plan
from planner.factory import build_planner, preflight
from planner.live.grammar import candidate_plans, observation_grammar, steps
from planner.live.llm_planner import LLMPlanner
from planner.llm.openai_client import ChatClient
from tests.helpers import planner_config
from utils.errors import UserError
from planner.task_spec import load_recorded_answers, task_config

TASKS = ("SimpleDoorKey", "ColoredDoorKey", "TwoDoor")
needs_llama = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                                reason="llama_cpp (llama-cpp-python) is not installed; run: bash scripts/install_llm.sh")


@pytest.fixture(scope="module")
def url():
    with local_llm.running_server(startup_timeout=180) as u:
        yield u


@needs_llama
@pytest.mark.parametrize("name,alias", [("smollm2", "SmolLM2-135M-Instruct.Q4_1"), ("gemma3", None)])
def test_any_gguf_file_is_served_by_path(name, alias):
    """--model PATH.gguf: the shipped models' files, located through their packages, served under their file names."""
    path = local_llm.find_model(name)
    alias = alias or path.name[:-len(".gguf")]
    assert local_llm.locate(str(path)) == (path, alias)
    with local_llm.running_server(model=str(path), startup_timeout=300) as u:
        client = ChatClient(u, "default", timeout=120, max_tokens=16)
        assert client.list_models() == [alias]
        text = "Agent sees <key>, holds <nothing>."
        answer = client.complete([{"role": "user", "content": text}], n=1, temperature=0.0, seed=0,
                                 grammar=observation_grammar(text))[0]
    assert extract_plan(answer) and all(s in steps(text) for s in extract_plan(answer).split(", ")), answer


@needs_llama
def test_model_file_is_found():
    path = local_llm.find_model()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


@needs_llama
@pytest.mark.parametrize("task", TASKS)
def test_grammar_compiles_in_llama_cpp(task):
    import llama_cpp
    for text in load_recorded_answers(task_config(task)):
        assert llama_cpp.LlamaGrammar.from_string(observation_grammar(text), verbose=False) is not None


@needs_llama
@pytest.mark.parametrize("task", ["SimpleDoorKey", "TwoDoor"])
def test_grammar_answers_all_parse(url, task, tmp_path):
    cfg = task_config(task)
    args = planner_config("--llm_url", url, "--llm_grammar", "--n_ask", "3", "--llm_seed", "0",
                          "--llm_max_tokens", "48", "--llm_timeout", "60")
    args.validate()
    preflight(args)
    planner = build_planner(args, cfg, tmp_path)
    assert isinstance(planner, LLMPlanner) and planner.model == local_llm.MODEL_ALIAS
    for text in list(load_recorded_answers(cfg))[:2]:
        dist = planner.plans(text)
        assert abs(sum(q for _, q in dist) - 1) < 1e-9
        for plan, _ in dist:
            assert all(s in steps(text) for s in plan.split(", ")), plan
    s = planner.stats()
    assert s["invalid_answers"] == 0 and s["reasked_answers"] == 0 and s["fallbacks"] == 0
    assert s["answers"] == 6 and s["queries"] == 2


@needs_llama
def test_raw_answers_with_grammar_match_the_official_regex(url):
    client = ChatClient(url, local_llm.MODEL_ALIAS, timeout=60, max_tokens=48)
    text = "Agent sees <color1 key>, holds <nothing>."
    answers = client.complete([{"role": "user", "content": text}], n=2, temperature=1.0, seed=1,
                              grammar=observation_grammar(text))
    assert len(answers) == 2
    for a in answers:
        assert re.fullmatch(r"Action: \{[\w\s<>,]+\}", a) and extract_plan(a), a


@needs_llama
def test_logprob_planner_against_the_real_server(url, tmp_path):
    """--llm_plans logprobs: one request per text, a distribution over the candidate plans that sums to 1."""
    args = planner_config("--llm_url", url, "--llm_plans", "logprobs", "--llm_timeout", "60", "--plan_cache", "none")
    planner = build_planner(args, task_config("SimpleDoorKey"), tmp_path)
    for text in load_recorded_answers(task_config("SimpleDoorKey")):
        dist = dict(planner.plans(text))
        assert set(dist) <= set(candidate_plans(text)) and abs(sum(dist.values()) - 1) < 1e-9, (text, dist)
    assert planner.stats()["requests"] <= 5  # one per text with more than one candidate


def test_bad_model_paths_are_one_line(tmp_path, capsys):
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 a zip file")
    for model, message in [(str(tmp_path / "missing.gguf"), "model file not found: "),
                           (str(tmp_path), "is not a file"),
                           (str(not_gguf), "is not a GGUF model file"),
                           ("llama3", "model file not found: llama3 (give a .gguf file or one of: smollm2, gemma3)")]:
        with pytest.raises(UserError, match=re.escape(message)):
            local_llm.locate(model)
        assert local_llm.main(["--model", model, "--port", "1"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
