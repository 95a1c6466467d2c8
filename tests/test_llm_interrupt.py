"""Ctrl-C while a run waits on an LLM that does not answer: honoured at once (not after the server's minutes), with
the checkpoint of the last whole iteration, and the resumed run gives exactly the metrics of a run never stopped.
In-process envs and worker processes alike."""
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT, read_metrics, tiny_train_args
from tests.llm_fakes import FakeChatServer, Reply
from tests.test_plan_cache import answer_for

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def answering(i, body):
    return Reply.answers([answer_for(body)] * int(body.get("n") or 1))


def hanging_after_the_check(i, body):
    if body.get("max_tokens") == 1:  # the check before training
        return Reply.answers(["OK"])
    return Reply.hang(120)


def llm_args(url):
    return ["--llm_url", url, "--n_ask", "2", "--plan_cache", "none", "--llm_timeout", "100", "--llm_wait", "always"]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_ctrl_c_during_an_llm_wait_stops_at_once_and_resumes_exactly(tmp_path, workers):
    extra = ["--workers", workers]
    with FakeChatServer(answering) as fake:
        straight = tiny_train_args(tmp_path, "straight", n_itr=2, extra=[*extra, *llm_args(fake.url)])
        assert subprocess.run([sys.executable, "main.py", *straight], cwd=ROOT, env=ENV, capture_output=True,
                              timeout=600).returncode == 0
    run_dir = tmp_path / "ppo" / "SimpleDoorKey" / "stopped-0"
    with FakeChatServer(hanging_after_the_check) as fake:
        args = tiny_train_args(tmp_path, "stopped", n_itr=2, extra=[*extra, *llm_args(fake.url)])
        proc = subprocess.Popen([sys.executable, "main.py", *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 300
            while len(fake.requests) < 2:  # the check, then the first (hanging) question about a text
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(0.5)
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130, (out, err)
    assert took < 30, took  # the server would have kept it waiting for 120 s
    assert "Traceback" not in err and f"python main.py train --resume {run_dir}" in err, err
    assert read_metrics(run_dir) == []  # stopped inside iteration 1: the checkpoint is the state before it
    with FakeChatServer(answering) as fake:
        resumed = subprocess.run([sys.executable, "main.py", "train", "--resume", str(run_dir), "--llm_url", fake.url],
                                 cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    def learning(path):  # the LLM counters differ: the stopped session really asked the server (and waited)
        return [{k: v for k, v in r.items() if not k.startswith("LLM/")} for r in read_metrics(path)]
    assert learning(run_dir) == learning(tmp_path / "ppo" / "SimpleDoorKey" / "straight-0")
