"""One stop request per signal sent: `timeout -s INT` and `kill 0` deliver a signal to the process and again to its
process group, and that echo must not count as the second Ctrl-C that stops a run without its checkpoint."""
import os
import signal

import pytest

from algos.run.stop_request import StopRequest
from tests.helpers import tiny_train_args
from tests.test_resume import assert_no_traceback, popen_main, run_path, stop_with, wait_for_rows
from utils import interrupt
from utils.errors import Interrupted
from utils.checkpoint_file import load_checkpoint


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_same_signal_again_at_once_is_an_echo_and_later_a_second_request():
    clock = Clock()
    with StopRequest(clock=clock) as stop:  # on exit: the process-wide stop request (utils.interrupt) is cleared
        stop._handle(signal.SIGINT, None)
        assert stop.poll() == "SIGINT"
        clock.now += StopRequest.ECHO_SECONDS / 10
        stop._handle(signal.SIGINT, None)  # the group's copy of the same signal: nothing more
        assert stop.poll() == "SIGINT"
        clock.now += StopRequest.ECHO_SECONDS
        with pytest.raises(Interrupted):
            stop._handle(signal.SIGINT, None)
    assert interrupt._state["stop"] is None


def test_another_signal_at_once_or_a_signal_after_a_stop_file_stops_at_once():
    clock = Clock()
    with StopRequest(clock=clock) as stop:
        stop._handle(signal.SIGINT, None)
        with pytest.raises(Interrupted):
            stop._handle(signal.SIGTERM, None)  # not an echo: a different signal
    with StopRequest(also=lambda: "stop file", clock=clock) as by_file:
        assert by_file.poll() == "stop file"
        with pytest.raises(Interrupted):
            by_file._handle(signal.SIGINT, None)


def test_a_signal_to_the_process_and_its_group_checkpoints_as_one_ctrl_c(tmp_path):
    """What `timeout -s INT` does at its limit: the signal to the training process, then to its process group
    (the workers ignore it). The run finishes its iteration and checkpoints, as after one Ctrl-C. (Where the second
    copy arrives before the first is handled, the kernel merges them; the two tests above check the echo itself.)"""
    run_dir = run_path(tmp_path, "timeout")
    proc = popen_main(tiny_train_args(tmp_path, "timeout", n_itr=50, extra=["--workers", "2"]),
                      start_new_session=True)
    wait_for_rows(proc, run_dir, 1)

    def like_timeout():
        os.kill(proc.pid, signal.SIGINT)
        os.killpg(proc.pid, signal.SIGINT)
    out, err = stop_with(proc, like_timeout, timeout=120)
    assert proc.returncode == 130, (out, err)
    assert_no_traceback(err)
    assert f"stopped {run_dir}" in out and f"python main.py train --resume {run_dir}" in err, (out, err)
    assert load_checkpoint(os.path.join(run_dir, "checkpoints", "latest.pt"))["iteration"] >= 1
