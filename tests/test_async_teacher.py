"""--llm_wait never: the training envs never wait for a live LLM; unanswered samples are trained without the
teacher term; answers land in the plan cache; two runs sharing a server and a cache ask each text once."""
import multiprocessing
import os
import time

import pytest
import torch

import main
from algos.learner.ppo import ppo_losses
from algos.learner.teacher_term import TeacherTerm
from planner.live.async_planner import AsyncPlanner
from planner.factory import build_planner
from planner.live.plan_cache import PlanCache
from tests.helpers import planner_config, read_metrics, run_processes, tiny_train_args
from tests.llm_fakes import FakeChatServer, Reply, asked_text
from tests.test_plan_cache import SDK, TEXTS, answer_for
from utils.errors import LLMError


def slow(delay):
    def responder(i, body):
        return Reply.answers([answer_for(body)] * int(body.get("n") or 1), delay=delay)
    return responder


def wait_for(planner, text, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = planner.plans(text)
        if found is not None:
            return found
        time.sleep(0.01)
    raise AssertionError(f"no answer for {text!r} within {timeout} s")


def live_args(url, path, *more):
    return planner_config("--llm_url", url, "--n_ask", "2", "--plan_cache", str(path), "--llm_timeout", "10", *more)


def test_a_new_text_is_queued_and_answered_without_waiting(tmp_path):
    path = tmp_path / "plan_cache.json"
    with FakeChatServer(slow(0.5)) as fake:
        planner = build_planner(live_args(fake.url, path), SDK, str(tmp_path), nonblocking=True)
        assert isinstance(planner, AsyncPlanner)
        try:
            # asked, not waited for: an answer takes the fake 0.5 s, so a lookup that waited would have one
            assert [planner.plans(t) for t in TEXTS] == [None] * len(TEXTS)
            planner.plans(TEXTS[0])
            assert planner.counts["submitted"] == len(TEXTS)  # a text still asked (or answered) is not queued again
            blocking = build_planner(live_args(fake.url, tmp_path / "other.json"), SDK, str(tmp_path))
            for text in TEXTS:
                assert wait_for(planner, text) == blocking.plans(text)  # the same distribution as waiting for it
            stats = planner.stats()
            assert stats["submitted"] == stats["landed"] == len(TEXTS) and stats["pending"] == 0
            assert stats["queries"] == len(TEXTS) and stats["answer_wait_mean_s"] >= 0.5
        finally:
            planner.close()
        assert len(PlanCache(path).entries()) == len(TEXTS)  # every answer kept for later runs
        again = build_planner(live_args(fake.url, path), SDK, str(tmp_path), nonblocking=True)
        try:
            asked = len(fake.requests)
            assert all(again.plans(t) is not None for t in TEXTS) and len(fake.requests) == asked
        finally:
            again.close()


def test_the_askers_use_the_server_slots_together(tmp_path):
    """With --llm_parallel 3 three texts are in flight at once: the fake holds each request until three are open."""
    import threading
    gate = threading.Barrier(3, timeout=20)

    def responder(i, body):
        gate.wait()  # BrokenBarrierError (HTTP 500, retried, finally an error) unless three arrive together
        return Reply.answers([answer_for(body)] * int(body.get("n") or 1))

    with FakeChatServer(responder) as fake:
        planner = build_planner(live_args(fake.url, tmp_path / "c.json", "--llm_parallel", "3", "--llm_retries",
                                          "0"), SDK, str(tmp_path), nonblocking=True)
        try:
            for text in TEXTS[:3]:
                assert planner.plans(text) is None
            for text in TEXTS[:3]:
                wait_for(planner, text)
        finally:
            planner.close()


def test_the_most_visited_waiting_text_is_asked_next(tmp_path):
    """The one asker busy with a first text, three texts wait: two looked up once each, then one looked up three
    times. The most visited is asked next, though queued last; the other two after it, in the order they came.
    No timing: the fake holds the first request until the lookups are done, and the test waits on its requests."""
    import threading
    first, once_a, once_b, often = TEXTS[:4]
    arrived, release, cond, asked = threading.Event(), threading.Event(), threading.Condition(), []

    def responder(i, body):
        text = asked_text(body)
        with cond:
            if text not in asked:
                asked.append(text)
            cond.notify_all()
        if text == first:
            arrived.set()
            release.wait(20)
        return Reply.answers([answer_for(body)] * int(body.get("n") or 1))

    with FakeChatServer(responder) as fake:
        planner = build_planner(live_args(fake.url, tmp_path / "c.json", "--llm_parallel", "1"), SDK, str(tmp_path),
                                nonblocking=True)
        try:
            assert planner.plans(first) is None
            assert arrived.wait(20)  # the asker is held by the first text: the rest wait in the queue
            for text in (once_a, once_b, often, often, often):
                assert planner.plans(text) is None
            assert [planner._todo.visits(t) for t in (first, once_a, once_b, often)] == [0, 1, 1, 3]
            release.set()
            with cond:
                assert cond.wait_for(lambda: len(asked) == 4, timeout=30)
            assert asked == [first, often, once_a, once_b]
            for text in (first, once_a, once_b, often):
                assert wait_for(planner, text) is not None
            assert planner.stats()["submitted"] == 4 and len(fake.requests) == 4  # each text asked once
        finally:
            release.set()
            planner.close()


def test_the_visit_queue_orders_by_visits_then_by_arrival():
    from planner.live.async_planner import VisitQueue
    q = VisitQueue()
    for text in ["a", "b", "c", "b", "d", "c", "c"]:
        q.visit(text)
    assert len(q) == 4 and q.visits("c") == 3
    assert q.get() == "c"
    q.visit("c")  # handed to an asker: not queued again
    assert [q.get(), q.get(), q.get()] == ["b", "a", "d"] and len(q) == 0
    for i in range(500):  # many visits of few texts: the lazy heap is rebuilt, the order kept
        q.visit("x" if i % 3 else "y")
    assert q.visits("x") == 333 and q.visits("y") == 167 and len(q._heap) <= 2 * 2 + 64 + 1
    assert q.get() == "x"
    q.close()
    assert q.get() is None and q.get() is None


def test_a_failing_server_is_raised_to_the_teacher_at_its_next_lookup(tmp_path):
    with FakeChatServer(lambda i, body: Reply.error(400, "bad request")) as fake:
        planner = build_planner(live_args(fake.url, tmp_path / "c.json"), SDK, str(tmp_path), nonblocking=True)
        try:
            assert planner.plans(TEXTS[0]) is None
            with pytest.raises(LLMError, match="HTTP 400"):
                wait_for(planner, TEXTS[1], timeout=20)
        finally:
            planner.close()


def test_close_lets_answers_in_flight_land_in_the_cache(tmp_path):
    path = tmp_path / "c.json"
    with FakeChatServer(slow(1.0)) as fake:
        planner = build_planner(live_args(fake.url, path, "--llm_parallel", "2"), SDK, str(tmp_path),
                                nonblocking=True)
        planner.plans(TEXTS[0]), planner.plans(TEXTS[1])
        while len(fake.requests) < 2:  # both requests are at the server (the 1 s answers still to come)
            time.sleep(0.01)
        planner.close()
    assert len(PlanCache(path).entries()) == 2


def _asking_run(url, path, order, queue):
    planner = build_planner(live_args(url, path), SDK, os.path.dirname(path), nonblocking=True)
    try:
        for text in order:
            planner.plans(text)
        queue.put({t: wait_for(planner, t, timeout=60) for t in order})
    finally:
        planner.close()


def test_two_runs_sharing_a_server_and_a_cache_ask_each_text_once(tmp_path):
    path = str(tmp_path / "plan_cache.json")
    with FakeChatServer(slow(0.3)) as fake:
        results = run_processes(_asking_run, [(fake.url, path, order) for order in (TEXTS, TEXTS[::-1])])
        assert len(fake.requests) == len(TEXTS)  # each text asked once between the two runs
    assert results[0] == results[1]
    assert not os.listdir(tmp_path / "plan_cache.json.claims")  # no claim left behind


def test_a_claim_of_a_dead_process_is_taken_over(tmp_path):
    cache = PlanCache(tmp_path / "c.json")
    cache.claims.mkdir(parents=True)
    proc = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    proc.start()
    proc.join()
    import json
    import socket
    (cache.claims / "k").write_text(json.dumps({"host": socket.gethostname(), "pid": proc.pid}))
    entry, hit = cache.get_or_compute("k", lambda: {"plans": ["explore"]})
    assert not hit and entry["plans"] == ["explore"] and not (cache.claims / "k").exists()


def test_samples_without_a_teacher_distribution_are_left_out_of_the_teacher_term():
    torch.manual_seed(0)
    n = 8
    logits = torch.randn(n, 7)
    teacher = torch.softmax(torch.randn(n, 7), -1)
    batch = {"action": torch.randint(0, 7, (n,)), "logp": torch.zeros(n), "value": torch.zeros(n),
             "advantage": torch.randn(n), "return": torch.randn(n), "teacher": teacher,
             "adv_mean": torch.zeros(()), "adv_std": torch.ones(())}
    idx = torch.arange(n)
    term = TeacherTerm()
    log_probs = torch.log_softmax(logits, -1)

    def teacher_loss(b):
        return float(term(log_probs, term.prepare(b), idx)[0])
    masked = dict(batch, teacher=teacher.clone())
    masked["teacher"][::2] = 0.0  # half the samples had no answer yet
    ce = -(teacher * log_probs).sum(-1)
    assert teacher_loss(batch) == pytest.approx(float(ce.mean()))
    assert teacher_loss(masked) == pytest.approx(float(ce[1::2].mean()))  # the mean over the taught ones only
    assert teacher_loss(dict(batch, teacher=torch.zeros(n, 7))) == 0.0
    assert set(ppo_losses(logits, torch.zeros(n), batch, idx, 0.2)) == {"policy", "value", "entropy", "approx_kl",
                                                                         "clipfrac"}  # PPO's own terms only


def test_training_never_waits_and_logs_the_teachers_state(tmp_path, capsys):
    """A run whose LLM takes 1 s per text: its iterations go on while the texts are asked (the first ones
    trained partly without the teacher term), the answers land in the plan cache, and the progress line and
    metrics.csv show texts, pending and the taught share. With --llm_wait always every sample is taught."""
    with FakeChatServer(slow(1.0)) as fake:
        common = ["--llm_url", fake.url, "--n_ask", "1", "--plan_cache", str(tmp_path / "cache.json")]
        assert main.main(tiny_train_args(tmp_path, "never", n_itr=3, extra=common)) == 0
        out = capsys.readouterr().out
        rows = read_metrics(os.path.join(tmp_path, "ppo", "SimpleDoorKey", "never-0"))
        shares = [float(r["Teacher/Taught Share"]) for r in rows]
        assert shares[0] < 1.0  # the first texts had no answer when their samples were trained
        assert "pending" in out and "taught" in out and "llm " in out
        assert float(rows[-1]["LLM/submitted"]) >= 1 and "LLM/pending" in rows[-1]
        cached = len(PlanCache(tmp_path / "cache.json").entries())
        assert cached >= 1
        assert main.main(tiny_train_args(tmp_path, "always", n_itr=2, extra=common + ["--llm_wait", "always"])) == 0
        rows = read_metrics(os.path.join(tmp_path, "ppo", "SimpleDoorKey", "always-0"))
        assert [float(r["Teacher/Taught Share"]) for r in rows] == [1.0, 1.0]


def test_ctrl_c_with_a_request_in_flight_stops_and_resumes(tmp_path):
    """The server never answers: the run trains on without the teacher term; Ctrl-C finishes the iteration,
    checkpoints, gives the request in flight its grace and stops (130); resumed against an answering server, the
    run completes its budget with every text answered."""
    import signal
    import subprocess
    import sys
    from tests.helpers import ROOT
    from tests.test_llm_interrupt import ENV, answering, hanging_after_the_check

    run_dir = tmp_path / "ppo" / "SimpleDoorKey" / "inflight-0"
    common = ["--n_ask", "1", "--plan_cache", str(tmp_path / "cache.json"), "--llm_timeout", "100"]
    with FakeChatServer(hanging_after_the_check) as fake:
        args = tiny_train_args(tmp_path, "inflight", n_itr=1000, extra=["--llm_url", fake.url, *common])
        proc = subprocess.Popen([sys.executable, "main.py", *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            while not (run_dir / "metrics.csv").exists() or len(read_metrics(run_dir)) < 2:
                assert proc.poll() is None, proc.communicate()  # iterations go on while the LLM hangs
                time.sleep(0.1)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and f"python main.py train --resume {run_dir}" in err, err
    done = len(read_metrics(run_dir))
    assert all(float(r["Teacher/Taught Share"]) == 0.0 for r in read_metrics(run_dir))  # nothing was answered
    with FakeChatServer(answering) as fake:
        resumed = subprocess.run([sys.executable, "main.py", "train", "--resume", str(run_dir), "--llm_url",
                                  fake.url, "--n_itr", str(done + 6)], cwd=ROOT, env=ENV, capture_output=True,
                                 text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    rows = read_metrics(run_dir)
    assert len(rows) == done + 6 and float(rows[-1]["Teacher/Taught Share"]) > 0.0


def test_worker_processes_each_ask_without_waiting_and_share_the_cache(tmp_path):
    """--workers 2: each worker process has its own non-blocking planner; the plan cache's claims keep a text
    asked once between them; the run logs the merged queue counters."""
    with FakeChatServer(slow(0.3)) as fake:
        extra = ["--llm_url", fake.url, "--n_ask", "1", "--plan_cache", str(tmp_path / "cache.json"), "--workers",
                 "2", "--num_envs", "4"]
        assert main.main(tiny_train_args(tmp_path, "workers", n_itr=3, extra=extra)) == 0
        asked = [asked_text(b) for b in fake.bodies if b.get("max_tokens") != 1]
    assert len(asked) == len(set(asked)) >= 1  # each text once across the two workers
    rows = read_metrics(os.path.join(tmp_path, "ppo", "SimpleDoorKey", "workers-0"))
    assert float(rows[-1]["LLM/submitted"]) >= len(set(asked))
