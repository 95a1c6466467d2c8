"""The planner's settings: the recorded LLM answers, or a live LLM behind an OpenAI-compatible server (or Zhipu's
ChatGLM API). The API key is read from the environment variable named by `llm_api_key_env` when a client is
built; it is never a setting, so it never reaches config.json or a log."""
import os
from dataclasses import dataclass
from typing import Optional

from planner.answer_tables import DEFAULT, existing_table_path
from planner.live.grammar import CANDIDATES
from utils.errors import UserError
from utils.options import ALL, SEED, integers, numbers, option

BACKENDS = ("openai", "zhipu")
PLAN_MODES = ("sample", "logprobs")
WAITS = ("never", "always")
DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "zhipu": "ZHIPUAI_API_KEY"}


def _env_name(value):
    ok = value.replace("_", "a").isalnum() and not value[0].isdigit() if value else False
    return None if ok else f"expected the name of an environment variable, got {value!r}"


def _url(value):
    from planner.llm.urls import chat_completions_url
    try:
        chat_completions_url(value)
    except UserError as e:
        return str(e)
    return None


@dataclass
class PlannerConfig:
    section = "the teacher's planner (without --llm_url: the recorded LLM answers in configs/)"

    offline_planner: bool = option(False, "use the recorded LLM answers even when an LLM is configured", commands=ALL)
    answers: str = option("default", "recorded answers without a live LLM: default | official | NAME | FILE.json",
                          commands=ALL, metavar="NAME|FILE")
    llm_url: Optional[str] = option(
        None, "an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (vLLM, llama.cpp, Ollama)",
        commands=ALL, check=_url, resumable=True, metavar="URL")
    llm_backend: str = option("openai", "openai: any /v1/chat/completions server; zhipu: ChatGLM via Zhipu's API",
                              commands=ALL, choices=BACKENDS)
    llm_model: Optional[str] = option(None, "model name sent to the server (default: the server's only model; "
                                            "glm-4-flash for zhipu)", commands=ALL)
    llm_api_key_env: Optional[str] = option(
        None, "environment variable of the API key (default OPENAI_API_KEY; ZHIPUAI_API_KEY for zhipu)",
        commands=ALL, check=_env_name, resumable=True, metavar="NAME")
    n_ask: int = option(10, "answers asked per observation text", commands=ALL, check=integers(1, 128))
    llm_plans: str = option("sample", "sample: frequencies of n_ask answers | logprobs: the model's plan probabilities",
                            commands=ALL, choices=PLAN_MODES)
    llm_temperature: float = option(1.0, "sampling temperature", commands=ALL, check=numbers(0, 2))
    llm_seed: Optional[int] = option(None, "sampling seed sent to servers that honour it", commands=ALL, check=SEED)
    llm_timeout: float = option(60.0, "seconds one request may take in all (connect, wait, read)",
                                commands=ALL, check=numbers(above=0, hi=3600), resumable=True)
    llm_answers_per_request: int = option(
        0, "answers asked in one request (0: all n_ask at once)", commands=ALL, check=integers(0, 128), resumable=True)
    llm_retries: int = option(3, "retries (with backoff) after connection errors, timeouts, HTTP 429/5xx, malformed "
                                 "replies", commands=ALL, check=integers(0, 20), resumable=True)
    llm_max_reasks: int = option(2, "rounds of re-asking answers without a parseable `Action: {...}`",
                                 commands=ALL, check=integers(0, 20))
    llm_max_tokens: int = option(256, "max_tokens of each answer", commands=ALL, check=integers(1, 32768))
    llm_grammar: bool = option(False, "constrain answers with a GBNF grammar of the plans (llama.cpp), so all parse",
                               commands=ALL)
    llm_candidates: str = option(
        "afforded", "the plans a live LLM chooses from: afforded (what each object affords) | all", commands=ALL,
        choices=CANDIDATES)
    llm_wait: str = option("never", "a new text in training: never (step on, taught once answered) | always (wait)",
                           choices=WAITS, resumable=True)
    llm_parallel: int = option(2, "texts asked at the same time with --llm_wait never", check=integers(1, 64),
                               resumable=True)
    llm_generalise: float = option(
        0.0, "teach an unasked text by the nearest answered ones where their confidence >= this (0: off)",
        commands=ALL, check=numbers(0, 1), metavar="C")
    plan_cache: Optional[str] = option(
        None, "persistent LLM answer cache, default <logdir>/ppo/<task>/plan_cache.json ('none': off)", commands=ALL,
        resumable=True, metavar="FILE")

    def uses_llm(self):
        """True when a live LLM is asked (not --offline_planner, and --llm_url given or the zhipu backend)."""
        return not self.offline_planner and (bool(self.llm_url) or self.llm_backend == "zhipu")

    def key_env(self):
        return self.llm_api_key_env or DEFAULT_KEY_ENV[self.llm_backend]

    def validate(self):
        """Checks across settings and against the environment (UserError, one line)."""
        if self.uses_llm():
            if (self.llm_api_key_env or self.llm_backend == "zhipu") and not os.environ.get(self.key_env()):
                raise UserError(f"environment variable {self.key_env()} (the API key for {self.llm_backend}) is not set")
            if self.llm_backend == "zhipu" and (self.llm_grammar or self.llm_plans == "logprobs"):
                raise UserError("--llm_grammar and --llm_plans logprobs need a llama.cpp server; Zhipu's API has neither")
            if self.llm_candidates != "afforded" and not (self.llm_grammar or self.llm_plans == "logprobs"):
                raise UserError("--llm_candidates all needs --llm_plans logprobs or --llm_grammar (free answers "
                                "have no candidate set)")
        if self.answers != DEFAULT:
            existing_table_path(self.answers)  # even with an LLM: a mistyped table is never silently ignored
