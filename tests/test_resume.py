"""Checkpoints and resuming: an interrupted run, resumed, gives exactly the metrics of the same run left alone.

Tiny runs (2 envs, ~300 steps per iteration). Torch runs single-threaded here and in the subprocesses, so that
the in-process reference and the real `python main.py` processes compute the same numbers (and fast, on a
shared machine)."""
import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import main
from tests.helpers import ROOT, read_metrics, tiny_train_args
from tests.llm_fakes import FakeChatServer, Reply
from utils.atomic import remove_stale_temps
from utils.checkpoint_file import load_checkpoint, save_checkpoint

torch.set_num_threads(1)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TASK = "SimpleDoorKey"


def run_path(logdir, name, seed=0):
    return os.path.join(str(logdir), "ppo", TASK, f"{name}-{seed}")


def scalars(run_dir, tag="Train/Loss"):
    acc = EventAccumulator(run_dir)
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: 4 iterations, in-process envs."""
    logdir = tmp_path_factory.mktemp("ref")
    assert main.main(tiny_train_args(logdir, "ref", n_itr=4)) == 0
    run_dir = run_path(logdir, "ref")
    rows = read_metrics(run_dir)
    assert [r["iteration"] for r in rows] == ["1", "2", "3", "4"]
    return {"dir": run_dir, "rows": rows, "loss": scalars(run_dir),
            "final": torch.load(os.path.join(run_dir, "checkpoints", "latest.pt"), weights_only=True)}


def test_checkpoint_holds_the_whole_training_state(reference):
    payload = load_checkpoint(os.path.join(reference["dir"], "checkpoints", "latest.pt"))
    for key in ("model", "optimizer", "iteration", "env_steps", "teacher_coef", "rng", "envs", "config", "obs_shape",
                "best", "planner_stats"):
        assert key in payload, key
    assert payload["iteration"] == 4 and payload["env_steps"] == int(reference["rows"][-1]["env_steps"])
    assert payload["teacher_coef"] == pytest.approx(10.0 - 0.005 * 4)
    assert {"python", "numpy", "torch"} <= set(payload["rng"])
    assert len(payload["envs"]["env"]) == len(payload["envs"]["teacher"]) == 2
    assert payload["config"]["task"] == TASK and payload["config"]["seed"] == 0
    assert os.path.isfile(os.path.join(reference["dir"], "checkpoints", "best.pt"))
    assert not [n for n in os.listdir(os.path.join(reference["dir"], "checkpoints")) if n.endswith(".tmp")]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_stop_after_2_then_resume_to_4_gives_the_straight_metrics(tmp_path, reference, workers):
    extra = ["--workers", workers]
    assert main.main(tiny_train_args(tmp_path, "part", n_itr=2, extra=extra)) == 0
    run_dir = run_path(tmp_path, "part")
    assert [r["iteration"] for r in read_metrics(run_dir)] == ["1", "2"]
    assert main.main(["train", "--resume", run_dir, "--n_itr", "4"]) == 0
    assert read_metrics(run_dir) == reference["rows"]
    # TensorBoard: every step once, with the straight run's values
    assert scalars(run_dir) == reference["loss"]
    final = torch.load(os.path.join(run_dir, "checkpoints", "latest.pt"), weights_only=True)
    assert final["iteration"] == 4 and final["config"]["n_itr"] == 4
    assert same_weights(final["model"], reference["final"]["model"])  # bitwise: same seed, same computation
    # resuming a finished run changes nothing
    before = read_metrics(run_dir, drop_timing=False)
    assert main.main(["train", "--resume", run_dir, "--n_itr", "4"]) == 0
    assert read_metrics(run_dir, drop_timing=False) == before


def test_resume_after_a_crash_trims_metrics_and_tensorboard_to_the_checkpoint(tmp_path, reference):
    """A run that died after iteration 3 with its last checkpoint at iteration k < 3: metrics.csv rows and
    TensorBoard scalars after k are dropped and recomputed, identical to the straight run."""
    assert main.main(tiny_train_args(tmp_path, "crash", n_itr=3)) == 0
    run_dir = run_path(tmp_path, "crash")
    ckpt = os.path.join(run_dir, "checkpoints")
    shutil.copy(os.path.join(ckpt, "best.pt"), os.path.join(ckpt, "latest.pt"))  # best.pt: an older full state
    k = torch.load(os.path.join(ckpt, "latest.pt"), weights_only=True)["iteration"]
    assert k < 3
    with open(os.path.join(ckpt, ".latest.pt.leftover.tmp"), "wb") as f:  # as a writer killed mid-save leaves
        f.write(b"partial")
    assert main.main(["train", "--resume", run_dir, "--n_itr", "4"]) == 0
    assert read_metrics(run_dir) == reference["rows"]
    assert scalars(run_dir) == reference["loss"]
    assert not [n for n in os.listdir(ckpt) if n.endswith(".tmp")]


@pytest.mark.parametrize("damage", ["cut to 50 bytes", "deleted", "not text"])
def test_a_damaged_metrics_csv_is_restored_from_the_checkpoint(tmp_path, reference, damage):
    """Issue 22: the rows up to the checkpoint are in the checkpoint; a metrics.csv cut short, deleted or garbled
    since does not make the resumed run drop them."""
    assert main.main(tiny_train_args(tmp_path, "cut", n_itr=2)) == 0
    run_dir = run_path(tmp_path, "cut")
    csv_path = os.path.join(run_dir, "metrics.csv")
    if damage == "deleted":
        os.unlink(csv_path)
    else:
        data = open(csv_path, "rb").read()
        with open(csv_path, "wb") as f:
            f.write(data[:50] if damage.startswith("cut") else b"\xff\xfe\x00garbage")
    assert main.main(["train", "--resume", run_dir, "--n_itr", "4"]) == 0
    assert read_metrics(run_dir) == reference["rows"]
    assert scalars(run_dir) == reference["loss"]


def test_a_cut_metrics_csv_with_a_checkpoint_without_metrics_is_refused_in_one_line(tmp_path, reference, capsys):
    """A checkpoint of an older version holds no metrics: a metrics.csv cut short (or missing) then stops the
    resume with one line and is left as it is, instead of being replaced by the new iterations alone."""
    assert main.main(tiny_train_args(tmp_path, "old", n_itr=2)) == 0
    run_dir = run_path(tmp_path, "old")
    latest = os.path.join(run_dir, "checkpoints", "latest.pt")
    payload = load_checkpoint(latest)
    del payload["metrics_csv"]
    save_checkpoint(payload, latest)
    csv_path = os.path.join(run_dir, "metrics.csv")
    complete = open(csv_path, "rb").read()
    for cut in (complete[:50], complete[:-30], None):
        if cut is None:
            os.unlink(csv_path)
        else:
            with open(csv_path, "wb") as f:
                f.write(cut)
        capsys.readouterr()
        assert main.main(["train", "--resume", run_dir, "--n_itr", "4"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: cannot continue") and err.count("\n") == 1, err
        assert "does not hold the metrics so far" in err
        assert (open(csv_path, "rb").read() if cut is not None else None) == cut
    with open(csv_path, "wb") as f:  # the complete file: the old checkpoint resumes as before
        f.write(complete)
    assert main.main(["train", "--resume", run_dir, "--n_itr", "4"]) == 0
    assert read_metrics(run_dir) == reference["rows"]


def popen_main(args, **kw):
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "main.py"), *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def wait_for_rows(proc, run_dir, n, timeout=120):
    csv_path = os.path.join(run_dir, "metrics.csv")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if os.path.exists(csv_path):
            with open(csv_path) as f:
                if sum(1 for _ in f) - 1 >= n:
                    return
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no {n} metrics rows within {timeout} s")


def wait_for_file(proc, folder, prefix, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if os.path.isdir(folder) and any(n.startswith(prefix) for n in os.listdir(folder)):
            return
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no {prefix}* in {folder} within {timeout} s")


def cpu_seconds(pid):
    """CPU time a process has used so far (user + system), from /proc."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_with(proc, send, timeout=60):
    """send() (a signal to the process or its group), then the process's (stdout, stderr); a process still
    running afterwards is killed, so no test leaves one behind."""
    try:
        send()
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()


def assert_no_traceback(err):
    assert "Traceback" not in err and "Warning" not in err, err


def test_ctrl_c_checkpoints_and_the_resumed_run_matches_the_straight_one(tmp_path, reference):
    """A real `python main.py train` with worker processes; Ctrl-C goes to the whole process group (as from a
    terminal): the workers ignore it, the parent finishes the iteration, checkpoints and exits 130."""
    run_dir = run_path(tmp_path, "sig")
    proc = popen_main(tiny_train_args(tmp_path, "sig", n_itr=4, extra=["--workers", "2"]), start_new_session=True)
    wait_for_rows(proc, run_dir, 2)
    out, err = stop_with(proc, lambda: os.killpg(proc.pid, signal.SIGINT), timeout=120)
    assert proc.returncode == 130, (out, err)
    assert_no_traceback(err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"python main.py train --resume {run_dir}" in lines[0], err
    assert f"stopped {run_dir}" in out and f"done {run_dir}" not in out  # a stopped run does not say "done"
    payload = load_checkpoint(os.path.join(run_dir, "checkpoints", "latest.pt"))
    k = payload["iteration"]
    assert k >= 2 and [r["iteration"] for r in read_metrics(run_dir)] == [str(i) for i in range(1, k + 1)]
    # resume to the fixed total of 4 (in-process envs this time: the number of workers changes nothing)
    assert main.main(["train", "--resume", run_dir, "--n_itr", "4", "--workers", "0"]) == 0
    assert read_metrics(run_dir) == reference["rows"]
    assert scalars(run_dir) == reference["loss"]
    assert len(glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))) == 1  # one event file, however resumed


def test_a_signal_during_the_last_iteration_finishes_the_run(tmp_path, capsys, monkeypatch):
    """Ctrl-C while the last iteration runs: the run finishes anyway, so it is done, with no resume hint."""
    import algos.run.trainer
    real = algos.run.trainer.collect

    def collect_then_ctrl_c(*args, **kwargs):
        out = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)  # arrives while this (last) iteration is still running
        return out
    monkeypatch.setattr(algos.run.trainer, "collect", collect_then_ctrl_c)
    assert main.main(tiny_train_args(tmp_path, "last", n_itr=1)) == 0
    out, err = capsys.readouterr()
    assert f"done {run_path(tmp_path, 'last')}: 1 iterations" in out and "--resume" not in out + err


def test_a_second_ctrl_c_exits_at_once(tmp_path):
    """Long iterations (~20 episodes each); two Ctrl-C during the first: no waiting for the iteration, one
    line, exit 130, and the fresh run's folder (nothing in it worth keeping) is gone."""
    run_dir = run_path(tmp_path, "twice")
    proc = popen_main(tiny_train_args(tmp_path, "twice", n_itr=4, extra=["--traj_per_itr", "40"]))
    try:
        assert proc.stdout.readline().startswith(f"run {run_dir}")
        wait_for_file(proc, run_dir, "events.out.tfevents")  # the last thing the trainer makes before its loop
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)  # a second press, not the echo of the first (StopRequest.ECHO_SECONDS)
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        out, err = proc.communicate(timeout=60)
        elapsed = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert_no_traceback(err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("interrupted"), err
    assert "itr 1/" not in out  # the first iteration never finished
    assert elapsed < 30  # (the run it stops has minutes of work left)
    assert not os.path.exists(run_dir)


def test_the_programs_started_here_get_ctrl_c_as_from_a_terminal():
    """A suite started in the background (nohup, `&` in a script) inherits SIGINT ignored; tests/conftest.py gives
    it back, so the programs the Ctrl-C tests start have Python's KeyboardInterrupt handler."""
    out = subprocess.run([sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT).__name__)"],
                         capture_output=True, text=True, env=ENV, timeout=60).stdout.strip()
    assert out == "default_int_handler", out


def test_sigterm_to_the_process_group_stops_with_one_line(tmp_path):
    """SIGTERM to the whole group (a job scheduler, `docker stop`): the workers ignore it, the parent finishes the
    iteration, checkpoints, closes them and stops with one line naming the checkpoint, exit 143; it loads."""
    run_dir = run_path(tmp_path, "term")
    proc = popen_main(tiny_train_args(tmp_path, "term", n_itr=50, extra=["--workers", "2"]), start_new_session=True)
    wait_for_rows(proc, run_dir, 1)
    out, err = stop_with(proc, lambda: os.killpg(proc.pid, signal.SIGTERM))
    assert proc.returncode == 143, (out, err)
    assert_no_traceback(err)
    assert len(err.strip().splitlines()) == 1 and f"python main.py train --resume {run_dir}" in err, err
    k = load_checkpoint(os.path.join(run_dir, "checkpoints", "latest.pt"))["iteration"]
    assert len(read_metrics(run_dir)) >= k >= 1


def test_ctrl_c_before_training_and_during_eval_is_one_line(tmp_path):
    # before training: stuck in the LLM server check (the fake server never answers in time)
    with FakeChatServer(lambda i, body: Reply.hang(30)) as fake:
        proc = popen_main(tiny_train_args(tmp_path, "early", n_itr=4, extra=["--llm_url", fake.url]))
        deadline = time.monotonic() + 60
        while not fake.requests and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert fake.requests, proc.communicate()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert_no_traceback(err)
    assert err.strip() == "interrupted"
    assert not os.path.exists(os.path.join(tmp_path, "ppo"))
    # during a long teacher evaluation (once it has really started: 3 s of CPU time, imports done, on a busy
    # machine as on an idle one)
    seeds = [str(s) for s in range(1, 11)]
    proc = popen_main(["eval", "--task", TASK, "--eval_teacher", "--num_eval", "2000", "--env_seed_list", *seeds,
                       "--logdir", str(tmp_path)])
    deadline = time.monotonic() + 300
    while cpu_seconds(proc.pid) < 3.0:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert_no_traceback(err)
    assert err.strip() == "interrupted"


WRITER = """
import sys
import torch
from utils.checkpoint_file import save_checkpoint
i = 0
while True:
    i += 1
    save_checkpoint({"model": {"w": torch.full((8_000_000,), float(i))}, "config": {"i": i}, "obs_shape": [1]}, sys.argv[1])
    print(i, flush=True)
"""


def test_sigkill_while_writing_leaves_the_previous_checkpoint_loadable(tmp_path):
    """kill -9 a process that keeps rewriting a 32 MB checkpoint, at a random moment while a write is under way
    (a temporary file exists); repeated until a kill left one behind. The checkpoint always loads whole, and
    the temporaries never look like a checkpoint (hidden, not *.pt) and are swept by remove_stale_temps."""
    folder = tmp_path / "checkpoints"
    path = folder / "latest.pt"
    rng = random.Random()
    hit_mid_write = False
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=ENV, stdout=subprocess.PIPE,
                                text=True)
        try:
            first = int(proc.stdout.readline())
            deadline = time.monotonic() + 10
            while not [n for n in os.listdir(folder) if n.endswith(".tmp")] and time.monotonic() < deadline:
                time.sleep(0.001)
            time.sleep(rng.uniform(0.0, 0.03))
        finally:
            proc.kill()
            proc.wait()
        payload = load_checkpoint(str(path), require=("model", "config"))
        w = payload["model"]["w"]
        assert payload["config"]["i"] >= first and torch.equal(w, torch.full_like(w, payload["config"]["i"]))
        assert sorted(p.name for p in folder.glob("*.pt")) == ["latest.pt"]
        leftovers = sorted(n for n in os.listdir(folder) if n != "latest.pt")
        assert all(n.startswith(".latest.pt.") and n.endswith(".tmp") for n in leftovers), leftovers
        if leftovers:
            hit_mid_write = True
            assert sorted(remove_stale_temps(str(folder))) == leftovers
            assert os.listdir(folder) == ["latest.pt"]
            assert load_checkpoint(str(path), require=("model", "config"))["config"]["i"] == payload["config"]["i"]
            break
    assert hit_mid_write


def worker_pids(parent):
    """Environment worker processes of `parent` (spawned children other than the resource tracker)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmd and b"resource_tracker" not in cmd:
            pids.append(int(name))
    return pids


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_a_dead_worker_is_one_line(tmp_path):
    run_dir = run_path(tmp_path, "dead")
    proc = popen_main(tiny_train_args(tmp_path, "dead", n_itr=50, extra=["--workers", "2"]))
    # the first checkpoint, not the first metrics row: the row is written before the checkpoint, and a worker killed
    # in between leaves none (its env states are lost), which a busy machine makes likely
    wait_for_file(proc, os.path.join(run_dir, "checkpoints"), "latest.pt")
    pids = worker_pids(proc.pid)
    out, err = stop_with(proc, lambda: os.kill(pids[0], signal.SIGKILL))
    assert len(pids) == 2
    assert proc.returncode == 1, (out, err)
    assert_no_traceback(err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: environment worker process"), err
    assert "exit code -9" in err and f"--resume {run_dir}" in err
    k = load_checkpoint(os.path.join(run_dir, "checkpoints", "latest.pt"))["iteration"]
    assert len(read_metrics(run_dir)) >= k >= 1
