"""Where a live LLM teacher's time goes, per new observation text, as data (bench/llm_latency.py prints it).

The logprobs planner asks one request per new text: the task's system prompt, the text, a grammar of its candidate
plans, greedy decoding with the tokens' top log-probabilities. Three kinds of request, each on texts the server has
not seen before (only the shared system prompt can be reused from its cache), taken in turn within each task:

  streamed the planner's own request (logprob_planner.greedy_answer: the reply begun with "Action: {", streamed
           and hung up once it has decided): what the teacher pays per new text
  client   the same request read to the end of the answer (what the planner paid before it streamed)
  raw      the same request body over plain HTTP (no OpenAI SDK, no retries, no deadline thread)
  plain    the same body without log-probabilities

client - raw is the client's own overhead and raw - plain the cost of the log-probabilities. llama.cpp's
llama-server also reports its own prompt and generation times (`timings`: prompt_n, prompt_ms, predicted_n,
predicted_ms); llama-cpp-python's server does not (those columns stay empty).
"""
import json
import statistics
import time
import urllib.request

from planner.live.grammar import candidate_plans, choice_grammar
from planner.live.logprob_planner import greedy_answer
from planner.llm.openai_client import ChatClient
from planner.llm.urls import chat_completions_url
from planner.task_spec import load_prompt, load_recorded_answers, task_config

KINDS = ("streamed", "client", "raw", "plain")
TOP_LOGPROBS = 20   # what LogprobPlanner asks (ChatClient.choose's default)


def asked_texts(tasks, candidates="afforded"):
    """[(task, text)] of the tasks' recorded texts that the logprobs planner would send (more than one candidate
    plan), in task order, each once."""
    out, seen = [], set()
    for task in tasks:
        for text in load_recorded_answers(task_config(task)):
            if (task, text) not in seen and len(candidate_plans(text, candidates)) > 1:
                seen.add((task, text))
                out.append((task, text))
    return out


def _body(client, system_prompt, text, candidates, logprobs, max_tokens):
    messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": text}]
    args, extra = client.build_body(messages, 1, 0.0, 0, choice_grammar(candidate_plans(text, candidates)),
                                    max_tokens)
    if logprobs:
        args.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
    return messages, {**args, **extra}


def _post(url, body, timeout):
    request = urllib.request.Request(chat_completions_url(url), data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    start = time.monotonic()
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        data = json.loads(reply.read())
    return time.monotonic() - start, data


def measure(url, model, tasks, candidates="afforded", max_tokens=64, timeout=300.0, texts=None):
    """Rows {task, text, kind, seconds, prompt_n, prompt_ms, predicted_n, predicted_ms} of one request per text."""
    client = ChatClient(url, model, timeout=timeout, retries=0, max_tokens=max_tokens)
    rows, prefill = [], None
    for i, (task, text) in enumerate(texts if texts is not None else asked_texts(tasks, candidates)):
        kind = KINDS[i % len(KINDS)]
        system_prompt = load_prompt(task_config(task))
        messages, body = _body(client, system_prompt, text, candidates, kind != "plain", max_tokens)
        timings = {}
        if kind in ("client", "streamed"):
            plans = candidate_plans(text, candidates)
            start = time.monotonic()
            if kind == "streamed":
                _, _, prefill = greedy_answer(client, messages, plans, 0, max_tokens, prefill)
            else:
                client.choose(messages, choice_grammar(plans), top_logprobs=TOP_LOGPROBS, max_tokens=max_tokens,
                              seed=0)
            seconds = time.monotonic() - start
        else:
            seconds, data = _post(url, body, timeout)
            timings = data.get("timings") or {}
        rows.append({"task": task, "text": text, "kind": kind, "seconds": seconds,
                     **{k: timings.get(k) for k in ("prompt_n", "prompt_ms", "predicted_n", "predicted_ms")}})
    client.close()
    return rows


def _mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def summary(rows):
    """Per kind: n, mean/median/max seconds, mean server prompt and generation ms (where reported); and the split
    of a new text's time: server prompt, server generation, log-probabilities, client overhead (seconds)."""
    kinds = {}
    for kind in KINDS:
        mine = [r for r in rows if r["kind"] == kind]
        if not mine:
            continue
        secs = [r["seconds"] for r in mine]
        kinds[kind] = {"n": len(mine), "mean_s": statistics.fmean(secs), "median_s": statistics.median(secs),
                       "max_s": max(secs), **{k: _mean([r[k] for r in mine])
                                             for k in ("prompt_n", "prompt_ms", "predicted_n", "predicted_ms")}}
    split = {}
    if {"client", "raw", "plain"} <= set(kinds):
        plain = kinds["plain"]
        split = {"per_text_s": kinds.get("streamed", kinds["client"])["mean_s"],
                 "whole_answer_s": kinds["client"]["mean_s"],
                 "client_overhead_s": kinds["client"]["mean_s"] - kinds["raw"]["mean_s"],
                 "logprobs_s": kinds["raw"]["mean_s"] - plain["mean_s"],
                 "server_prompt_s": None if plain["prompt_ms"] is None else plain["prompt_ms"] / 1000,
                 "server_generation_s": None if plain["predicted_ms"] is None else plain["predicted_ms"] / 1000}
    return {"kinds": kinds, "split": split}
