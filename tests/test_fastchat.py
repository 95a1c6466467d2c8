"""FastChat for real: `python -m planner.servers.fastchat` starts the controller, a model worker (SmolLM2-135M,
converted once from its GGUF) and the OpenAI API server on 127.0.0.1; a training run asks it through --llm_url;
Ctrl-C stops all three. (Installed by scripts/install_llm.sh, which the README's test command runs.)"""
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest

import main
from planner.servers import fastchat as fastchat_local
from planner.servers.processes import models_listed
from tests.helpers import ROOT, read_metrics, tiny_train_args

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def url():
    with fastchat_local.running(startup_timeout=600) as u:
        yield u


def test_an_unknown_model_is_one_line(url, tmp_path, capsys):
    rc = main.main(tiny_train_args(tmp_path, "x", n_itr=1, extra=["--llm_url", url, "--llm_model", "vicuna-7b"]))
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "HTTP 400" in err, err
    assert not (tmp_path / "ppo" / "SimpleDoorKey" / "x-0").exists()


def test_the_printed_command_trains_and_ctrl_c_stops_all_three(tmp_path):
    """The launcher's own train command, run as printed (the paper's --n_ask 10, the default --llm_timeout) with only
    a couple of small iterations and shorter answers without re-asks added (a CPU FastChat writes ~25 tokens/s, so
    256-token answers asked up to three times made this one test take 20 minutes), trains against its servers;
    Ctrl-C then stops all three."""
    env = {**ENV, "PYTHONPATH": str(ROOT)}
    work = tmp_path / "cwd"
    work.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "planner.servers.fastchat", "--port", "0"], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        lines = []
        while not lines or not lines[-1].startswith("--llm_url"):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            lines.append(proc.stdout.readline().strip())
        command = next(line for line in lines if line.startswith("python main.py train"))
        url = lines[-1].split()[1]
        assert models_listed(url) == [fastchat_local.MODEL_NAME] and "--n_ask" not in command
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) == 3

        small = ["--n_itr", "2", "--num_envs", "1", "--workers", "0", "--traj_per_itr", "1", "--batch_size", "16",
                 "--eval_interval", "0", "--logdir", str(tmp_path / "log"), "--savedir", "fc", "--no_progress",
                 "--llm_max_tokens", "64", "--llm_max_reasks", "0"]
        # as printed (--llm_wait never): the envs do not wait for FastChat's answers (~25 s a text here), so the
        # two iterations end while the first texts are still asked
        run = subprocess.run(shlex.split(command) + small, cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=3000)
        assert run.returncode == 0, run.stderr[-2000:]
        rows = read_metrics(tmp_path / "log" / "ppo" / "SimpleDoorKey" / "fc-0")
        assert len(rows) == 2 and float(rows[-1]["LLM/submitted"]) >= 1 and "Teacher/Taught Share" in rows[-1]
        # and waiting for every answer (--llm_wait always), the answers themselves
        small[small.index("fc")] = "fcw"
        run = subprocess.run(shlex.split(command) + small + ["--llm_wait", "always"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=3000)
        assert run.returncode == 0, run.stderr[-2000:]
        queries, requests = map(int, re.search(r"LLM: (\d+) queries, (\d+) requests", run.stdout).groups())
        assert queries > 0  # (a 135M model without a grammar rarely writes a parseable plan: those texts explore)
        assert requests >= 10 * queries  # n_ask 10 answers a text, one request each
        assert len(read_metrics(tmp_path / "log" / "ppo" / "SimpleDoorKey" / "fcw-0")) == 2
        assert (tmp_path / "log" / "ppo" / "SimpleDoorKey" / "plan_cache.json").is_file()

        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        time.sleep(1)
        assert models_listed(url) is None
        assert all(not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
                   for pid in children)
        assert os.listdir(work) == []  # FastChat's own log files go to the log folder, not the working one
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
