"""FastChat for real: `python -m planner.fastchat_local` starts the controller, a model worker (SmolLM2-135M,
converted once from its GGUF) and the OpenAI API server on 127.0.0.1; a training run asks it through --llm_url;
Ctrl-C stops all three. (Installed by scripts/install_llm.sh, which the README's test command runs.)"""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

import main
from planner import fastchat_local
from planner.servers import models_listed
from tests.helpers import ROOT, read_metrics, tiny_train_args

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def url():
    with fastchat_local.running(startup_timeout=600) as u:
        yield u


def test_training_asks_fastchat(url, tmp_path, capsys):
    assert models_listed(url) == [fastchat_local.MODEL_NAME]
    args = tiny_train_args(tmp_path, "fc", n_itr=2, extra=[
        "--llm_url", url, "--n_ask", "2", "--llm_max_reasks", "0", "--llm_max_tokens", "32", "--llm_timeout", "120"])
    assert main.main(args) == 0
    out = capsys.readouterr().out
    queries = int(re.search(r"LLM: (\d+) queries", out).group(1))
    assert queries > 0  # (a 135M model without a grammar rarely writes a parseable plan: those texts explore)
    rows = read_metrics(tmp_path / "ppo" / "SimpleDoorKey" / "fc-0")
    assert len(rows) == 2 and float(rows[-1]["LLM/requests"]) > 0
    assert (tmp_path / "ppo" / "SimpleDoorKey" / "plan_cache.json").is_file()


def test_an_unknown_model_is_one_line(url, tmp_path, capsys):
    rc = main.main(tiny_train_args(tmp_path, "x", n_itr=1, extra=["--llm_url", url, "--llm_model", "vicuna-7b"]))
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "HTTP 400" in err, err
    assert not (tmp_path / "ppo" / "SimpleDoorKey" / "x-0").exists()


def test_the_command_prints_the_url_and_ctrl_c_stops_all_three(tmp_path):
    env = {**ENV, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "planner.fastchat_local", "--port", "0"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        line = ""
        while "--llm_url" not in line:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            line = proc.stdout.readline()
        url = line.split()[-1]
        assert models_listed(url) == [fastchat_local.MODEL_NAME]
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) == 3
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        time.sleep(1)
        assert models_listed(url) is None
        assert all(not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
                   for pid in children)
        assert os.listdir(tmp_path) == []  # FastChat's own log files go to the log folder, not the working one
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
