"""Test-wide settings:
- one torch thread (and one OpenMP thread in subprocesses), because test runs share a small machine and torch's
  spinning worker threads slow everything down badly when cores are oversubscribed;
- Ctrl-C as from a terminal. A suite started in the background of a script (`pytest ... &`, nohup) inherits SIGINT
  *ignored*; the programs the tests start would inherit that too (an ignored signal stays ignored across exec, and
  Python then installs no KeyboardInterrupt handler), so every test that presses Ctrl-C on a training, a sweep or a
  server would wait for a stop that cannot come. Giving the suite Python's own handler again makes its children
  start with the default disposition, as under a terminal.
And the one fixture several modules share: `trained`, a finished tiny run to damage copies of."""
import os
import signal

import pytest
import torch

os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A finished 1-iteration SimpleDoorKey run of the bad-input tests to take checkpoints from (copy it before
    changing anything: tests.bad_input.copy_run)."""
    import main
    from tests.bad_input import run_dir_of
    from tests.helpers import tiny_train_args
    logdir = tmp_path_factory.mktemp("trained")
    assert main.main(tiny_train_args(logdir, n_itr=1)) == 0
    return run_dir_of(logdir)
