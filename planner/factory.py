"""Building the teacher's planner from a PlannerConfig: a recorded-answer table, or a live LLM with its plan cache.

    build_planner(config, task, task_log_dir)   RecordedPlanner without an LLM (or with --offline_planner), else
                                                an LLM planner
    check_planner_inputs(config, task, dir)     read the files the planner will use, so a bad one fails up front
    preflight(config)                           one quick request to the LLM before training (UserError naming it)
"""
import os
from pathlib import Path

from planner.answer_tables import load_answers
from planner.live.async_planner import AsyncPlanner
from planner.live.generalising_planner import GeneralisingPlanner
from planner.base import RecordedPlanner
from planner.live.grammar import grammar_for
from planner.live.llm_planner import LLMPlanner
from planner.live.logprob_planner import LogprobPlanner
from planner.llm.openai_client import ChatClient
from planner.live.plan_cache import PlanCache, check_cache_path
from planner.world import check_world
from planner.llm.zhipu_client import ZhipuClient
from utils.errors import LLMError, UserError
from planner.task_spec import load_prompt

PLAN_CACHE_NAME = "plan_cache.json"
CLOSE_GRACE_SECONDS = 10.0  # a stopping run lets the answers in flight land in the plan cache this long at most
NO_CACHE = ("none", "off", "")


def make_client(config, **overrides):
    """The chat client of a config (API key from the environment, never from the config)."""
    kwargs = dict(api_key=os.environ.get(config.key_env()) or None, timeout=config.llm_timeout,
                  retries=config.llm_retries, max_tokens=config.llm_max_tokens,
                  answers_per_request=config.llm_answers_per_request)
    kwargs.update(overrides)
    if config.llm_backend == "zhipu":
        return ZhipuClient(config.llm_url, config.llm_model, **kwargs)
    client = ChatClient(config.llm_url, config.llm_model or "default", **kwargs)
    if not config.llm_model:
        client.model = resolve_model(client)
    return client


def resolve_model(client):
    """The server's model when --llm_model is not given: its only model, or 'default' if it lists none."""
    try:
        models = client.list_models()
    except LLMError:
        return "default"
    if len(models) == 1:
        return models[0]
    if not models:
        return "default"
    shown = ", ".join(models[:10]) + (" ..." if len(models) > 10 else "")
    raise UserError(f"LLM server {client.url} serves several models; pass --llm_model (one of: {shown})")


def plan_cache_path(config, task_log_dir):
    value = config.plan_cache
    if value is not None and str(value).strip().lower() in NO_CACHE:
        return None
    return Path(value) if value else Path(task_log_dir) / PLAN_CACHE_NAME


def build_planner(config, task, task_log_dir, nonblocking=False):
    """The teacher's planner; nonblocking (the training envs' teacher) with --llm_wait never: an AsyncPlanner;
    with --llm_generalise C either is wrapped in a GeneralisingPlanner."""
    if not config.uses_llm():
        return RecordedPlanner(load_answers(task, config.answers))
    planner = _live_planner(config, task, task_log_dir, nonblocking)
    return GeneralisingPlanner(planner, config.llm_generalise) if config.llm_generalise > 0 else planner


def _live_planner(config, task, task_log_dir, nonblocking):
    if nonblocking and config.llm_wait == "never":
        return AsyncPlanner(lambda: _live_planner(config, task, task_log_dir, False), parallel=config.llm_parallel,
                            grace=min(CLOSE_GRACE_SECONDS, config.llm_timeout))
    client = make_client(config)
    path = plan_cache_path(config, task_log_dir)
    kind = LogprobPlanner if config.llm_plans == "logprobs" else LLMPlanner
    candidates = candidates_for(config, task)
    extra = {"candidates": candidates} if kind is LogprobPlanner else {}
    return kind(client, load_prompt(task), n_ask=config.n_ask, temperature=config.llm_temperature,
                seed=config.llm_seed, grammar=grammar_for(candidates) if config.llm_grammar else None,
                cache=PlanCache(path) if path else None, max_reasks=config.llm_max_reasks,
                max_tokens=config.llm_max_tokens, **extra)


def check_planner_inputs(config, task, task_log_dir):
    """Read the files the planner will use (recorded answers, or the prompt and the plan cache) so that a
    malformed one fails now, with one line, before any run folder exists; and that the teacher can act in the
    task's world (planner.world)."""
    check_world(task)
    if config.uses_llm():
        load_prompt(task)
        path = plan_cache_path(config, task_log_dir)
        if path is not None and (config.plan_cache or os.path.lexists(path)):  # the default's folder is the run's
            check_cache_path(path)
            if os.path.lexists(path):
                PlanCache(path).entries()
    else:
        load_answers(task, config.answers)


def preflight(config):
    """With a live LLM: one tiny request now, so a wrong URL/model/key fails before training (UserError)."""
    if not config.uses_llm():
        return
    client = make_client(config, retries=min(config.llm_retries, 1), backoff=0.2)
    try:
        client.ping()
    except LLMError as e:
        raise UserError(f"LLM teacher not usable before training: {e}") from None


def candidates_for(config, task):
    """The candidate set of a live LLM's answers: --llm_candidates, where the task's own (configs/tasks.json
    llm_candidates, e.g. carry for MiniWorld's rooms) replaces the default afforded."""
    if config.llm_candidates == "afforded":
        return task.get("llm_candidates", "afforded")
    return config.llm_candidates
