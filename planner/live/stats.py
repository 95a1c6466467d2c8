"""Planner counters (any planner's `stats()`): merged across worker processes and summed into one line."""

# counters are summed; *_max_s are maxima; *_mean_s are recomputed from (total, count)
MEANS = {"latency_mean_s": ("request_seconds", "requests"), "query_latency_mean_s": ("query_seconds", "queries"),
         "answer_wait_mean_s": ("answer_wait_seconds", "landed")}


def with_means(stats):
    for mean, (total, count) in MEANS.items():
        if total in stats and count in stats:
            stats[mean] = stats[total] / stats[count] if stats[count] else 0.0
    return stats


def merge_stats(dicts):
    """Combine the stats() of several processes (or of a run before and after a resume)."""
    out = {}
    for d in dicts:
        for k, v in (d or {}).items():
            if k in MEANS:
                continue
            out[k] = max(out.get(k, 0), v) if k.endswith("_max_s") else out.get(k, 0) + v
    return with_means(out)


def summary_line(stats):
    """One line for the end of a run, e.g. `LLM: 6 queries, 60 answers, 2 invalid, ... mean latency 0.81 s`."""
    if not stats:
        return "LLM: no statistics"
    if "queries" not in stats:  # recorded table (RecordedPlanner) or something else
        return "Planner: " + ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(stats.items()))
    parts = [f"{stats.get('queries', 0)} queries", f"{stats.get('requests', 0)} requests",
             f"{stats.get('answers', 0)} answers", f"{stats.get('invalid_answers', 0)} invalid",
             f"{stats.get('reasked_answers', 0)} re-asked", f"{stats.get('fallbacks', 0)} fallbacks",
             f"{stats.get('cache_hits', 0)} cache hits", f"{stats.get('retries', 0)} retries",
             f"mean latency {stats.get('latency_mean_s', 0.0):.2f} s",
             f"max {stats.get('request_max_s', 0.0):.2f} s"]
    return "LLM: " + ", ".join(parts)


def progress_state(stats, taught_share=None):
    """A live LLM teacher's state for a progress line: texts asked (a non-blocking teacher's), answered, waiting,
    the full texts taught by the answer to another (reduced) text, the texts taught by the answer model's guess
    (--llm_generalise), the LLM's mean latency per request and the taught share, e.g.
    `llm 31 asked, 29 texts, 2 pending, 412 generalised, 1.9 s, taught 0.93`."""
    parts = [f"{stats['submitted']} asked"] if "submitted" in stats else []
    parts.append(f"{stats.get('texts', 0)} texts")
    if "pending" in stats:
        parts.append(f"{stats['pending']} pending")
    if "generalised_texts" in stats:
        parts.append(f"{stats['generalised_texts']} generalised")
    if "guessed_texts" in stats:
        parts.append(f"{stats['guessed_texts']} guessed")
    if stats.get("requests"):
        parts.append(f"{stats.get('latency_mean_s', 0.0):.1f} s")
    if taught_share is not None:
        parts.append(f"taught {taught_share:.2f}")
    return "llm " + ", ".join(parts)


def stat_tag(key):
    """Logging tag of a planner counter: the recorded table's missing texts under Teacher/, an LLM's under LLM/."""
    if key.startswith("missing_"):
        return "Teacher/" + key.replace("_", " ").title()
    return f"LLM/{key}"


def _fmt(v):
    return f"{v:.3g}" if isinstance(v, float) else str(v)
