"""Command-line flags for the teacher's planner and building it: a recorded-answer table or a live LLM.

    add_llm_arguments(parser)            the --llm_* flags, --plan_cache, --answers_file
    check_llm_args(args)                 validates them (UserError with one line)
    preflight(args)                      one quick request to --llm_url before training (UserError naming it)
    build_planner(args, task_cfg, dir)   RecordedPlanner without --llm_url (or with --offline_planner), else LLMPlanner

The API key is read from the environment variable named by --llm_api_key_env when a client is built; it is never
stored in args (which main.py writes to config.json) nor printed.
"""
import os
from pathlib import Path

from planner.base import RecordedPlanner
from planner.grammar import task_grammar
from planner.llm_planner import LLMPlanner
from planner.openai_client import ChatClient, LLMError, chat_completions_url
from planner.plan_cache import PlanCache
from planner.zhipu_client import ZHIPU_KEY_ENV, ZhipuClient
from utils.errors import UserError
from utils.tasks import load_prompt, load_recorded_answers

BACKENDS = ("openai", "zhipu")
DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "zhipu": ZHIPU_KEY_ENV}
PLAN_CACHE_NAME = "plan_cache.json"
NO_CACHE = ("none", "off", "")


def add_llm_arguments(parser):
    g = parser.add_argument_group("LLM teacher (without --llm_url the recorded answers in configs/ are used)")
    g.add_argument("--llm_url", default=None,
                   help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (FastChat, vLLM, llama.cpp, Ollama)")
    g.add_argument("--llm_backend", choices=BACKENDS, default="openai",
                   help="openai: any /v1/chat/completions server; zhipu: ChatGLM via Zhipu's API (URL optional)")
    g.add_argument("--llm_model", default=None,
                   help="model name sent to the server (default: the server's only model, or glm-4-flash for zhipu)")
    g.add_argument("--llm_api_key_env", default=None,
                   help="environment variable holding the API key (default OPENAI_API_KEY, or ZHIPUAI_API_KEY for zhipu)")
    g.add_argument("--n_ask", type=int, default=10, help="answers asked per observation text")
    g.add_argument("--llm_temperature", type=float, default=1.0, help="sampling temperature")
    g.add_argument("--llm_seed", type=int, default=None, help="sampling seed sent to servers that honour it")
    g.add_argument("--llm_timeout", type=float, default=60.0, help="seconds to wait for one reply")
    g.add_argument("--llm_retries", type=int, default=3,
                   help="retries (with backoff) after connection errors, timeouts, HTTP 429/5xx, malformed replies")
    g.add_argument("--llm_max_reasks", type=int, default=2,
                   help="rounds of re-asking answers without a parseable `Action: {...}` before counting them invalid")
    g.add_argument("--llm_max_tokens", type=int, default=256, help="max_tokens of each answer")
    g.add_argument("--llm_grammar", action="store_true",
                   help="send a GBNF grammar of the task's actions and objects (llama.cpp) so every answer parses")
    g.add_argument("--plan_cache", default=None,
                   help="persistent LLM answer cache (default log/ppo/<task>/plan_cache.json; 'none' disables)")
    g.add_argument("--answers_file", default=None,
                   help="recorded-answer table to use without a server (format of configs/recorded_answers.json, "
                        "e.g. from python -m planner.export_cache)")
    return parser


def uses_llm(args):
    """True when the run asks a live LLM (not --offline_planner, and --llm_url given or the zhipu backend)."""
    if getattr(args, "offline_planner", False):
        return False
    return bool(getattr(args, "llm_url", None)) or getattr(args, "llm_backend", "openai") == "zhipu"


def _key_env(args):
    return getattr(args, "llm_api_key_env", None) or DEFAULT_KEY_ENV[getattr(args, "llm_backend", "openai")]


def check_llm_args(args):
    def need(cond, msg):
        if not cond:
            raise UserError(msg)

    need(getattr(args, "llm_backend", "openai") in BACKENDS, f"--llm_backend must be one of {', '.join(BACKENDS)}")
    need(1 <= args.n_ask <= 128, f"--n_ask must be between 1 and 128, got {args.n_ask}")
    need(0.0 <= args.llm_temperature <= 2.0, f"--llm_temperature must be in [0, 2], got {args.llm_temperature}")
    need(args.llm_timeout > 0, f"--llm_timeout must be > 0 seconds, got {args.llm_timeout}")
    need(args.llm_seed is None or args.llm_seed >= 0, f"--llm_seed must be >= 0, got {args.llm_seed}")
    need(0 <= getattr(args, "llm_retries", 3) <= 20, "--llm_retries must be between 0 and 20")
    need(0 <= getattr(args, "llm_max_reasks", 2) <= 20, "--llm_max_reasks must be between 0 and 20")
    need(getattr(args, "llm_max_tokens", 256) >= 1, "--llm_max_tokens must be >= 1")
    if args.llm_url:
        chat_completions_url(args.llm_url)  # raises UserError on a malformed URL
    env = getattr(args, "llm_api_key_env", None)
    if env is not None:
        need(env.replace("_", "a").isalnum() and not env[0].isdigit(),
             f"--llm_api_key_env must name an environment variable, got {env!r}")
    if uses_llm(args):
        if env is not None or args.llm_backend == "zhipu":
            need(bool(os.environ.get(_key_env(args))),
                 f"environment variable {_key_env(args)} (the API key for {args.llm_backend}) is not set")
        if args.llm_grammar and args.llm_backend == "zhipu":
            raise UserError("--llm_grammar needs a server with GBNF grammars (llama.cpp); Zhipu's API has none")
    if args.answers_file and not Path(args.answers_file).is_file():
        raise UserError(f"--answers_file not found: {args.answers_file}")


def make_client(args, **overrides):
    """The chat client for args (API key from the environment, never from args)."""
    kwargs = dict(api_key=os.environ.get(_key_env(args)) or None, timeout=args.llm_timeout,
                  retries=getattr(args, "llm_retries", 3), max_tokens=getattr(args, "llm_max_tokens", 256))
    kwargs.update(overrides)
    if args.llm_backend == "zhipu":
        return ZhipuClient(args.llm_url, args.llm_model, **kwargs)
    client = ChatClient(args.llm_url, args.llm_model or "default", **kwargs)
    if not args.llm_model:
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


def plan_cache_path(args, task_log_dir):
    value = getattr(args, "plan_cache", None)
    if value is not None and str(value).strip().lower() in NO_CACHE:
        return None
    return Path(value) if value else Path(task_log_dir) / PLAN_CACHE_NAME


def build_planner(args, task_cfg, task_log_dir):
    if not uses_llm(args):
        return RecordedPlanner(load_recorded_answers(task_cfg, getattr(args, "answers_file", None)))
    client = make_client(args)
    path = plan_cache_path(args, task_log_dir)
    return LLMPlanner(client, load_prompt(task_cfg), n_ask=args.n_ask, temperature=args.llm_temperature,
                      seed=args.llm_seed, grammar=task_grammar(task_cfg) if args.llm_grammar else None,
                      cache=PlanCache(path) if path else None, max_reasks=getattr(args, "llm_max_reasks", 2),
                      max_tokens=getattr(args, "llm_max_tokens", 256))


def preflight(args):
    """With a live LLM: one tiny request now, so a wrong URL/model/key fails before training (UserError)."""
    if not uses_llm(args):
        return
    client = make_client(args, retries=min(getattr(args, "llm_retries", 3), 1), backoff=0.2)
    try:
        client.ping()
    except LLMError as e:
        raise UserError(f"LLM teacher not usable before training: {e}") from None
