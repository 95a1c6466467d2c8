"""The commands of the official LLM4Teach README, run literally (`python main.py ...` in a fresh folder holding the
project's main.py), each as a real process. Training runs 20000 iterations by default, so it is stopped with
Ctrl-C after its first iteration: it checkpoints, and the evaluation commands find that run by its name."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TRAIN = "python main.py train --task SimpleDoorKey --savedir train"
EVAL = "python main.py eval --task SimpleDoorKey --loaddir train --savedir eval"
TRAIN_OFFLINE = "python main.py train --task SimpleDoorKey --savedir train --offline_planner"
EVAL_TEACHER = "python main.py eval --task SimpleDoorKey --loaddir train --savedir eval --eval_teacher"


@pytest.fixture
def folder(tmp_path):
    os.symlink(os.path.join(ROOT, "main.py"), tmp_path / "main.py")
    return tmp_path


def command(text):
    argv = text.split()
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


def train_one_iteration(folder, text):
    """Start the README's train command, Ctrl-C it once its first iteration is logged; it must checkpoint."""
    proc = subprocess.Popen(command(text), cwd=folder, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    metrics = folder / "log" / "ppo" / "SimpleDoorKey" / "train-0" / "metrics.csv"
    deadline = time.monotonic() + 300
    try:
        while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no iteration within 300 s"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert "checkpoint saved" in err and "Traceback" not in err, err
    assert (folder / "log" / "ppo" / "SimpleDoorKey" / "train-0" / "checkpoints" / "latest.pt").is_file()


def run(folder, text):
    result = subprocess.run(command(text), cwd=folder, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_train_then_eval_the_student_and_the_teacher(folder):
    train_one_iteration(folder, TRAIN)
    out = run(folder, EVAL)
    assert "SimpleDoorKey student" in out and "success rate" in out and "over 10 episodes" in out
    saved = json.loads((folder / "log" / "ppo" / "SimpleDoorKey" / "eval-0" / "student_eval.json").read_text())
    assert saved["who"] == "student" and saved["checkpoint"].endswith(os.path.join("train-0", "checkpoints",
                                                                                    "latest.pt"))
    out = run(folder, EVAL_TEACHER)
    assert "SimpleDoorKey teacher" in out and "success rate 1.000 over 10 episodes" in out
    assert (folder / "log" / "ppo" / "SimpleDoorKey" / "eval-0" / "teacher_eval.json").is_file()
    assert (folder / "log" / "ppo" / "SimpleDoorKey" / "teacher_eval.json").is_file()


def test_train_with_the_recorded_llm_answers(folder):
    train_one_iteration(folder, TRAIN_OFFLINE)
    config = json.loads((folder / "log" / "ppo" / "SimpleDoorKey" / "train-0" / "config.json").read_text())
    assert config["offline_planner"] is True and config["savedir"] == "train" and config["seed"] == 0
