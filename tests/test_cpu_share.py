"""utils.cpu_share: trainings on one machine count each other through locked files and split the cores."""
import multiprocessing as mp
import os
import time

from utils.cpu_share import CpuShare


def hold(folder, ready):
    with CpuShare(folder=folder, cores=4):
        ready.set()
        time.sleep(60)  # until killed


def test_runs_split_the_cores_and_dead_runs_do_not_count(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    folder = str(tmp_path / "share")
    with CpuShare(folder=folder, cores=4) as me:
        assert me.live_runs() == 1 and me.threads() == 4  # alone: every core
        ctx = mp.get_context("spawn")
        ready = ctx.Event()
        other = ctx.Process(target=hold, args=(folder, ready))
        other.start()
        assert ready.wait(60)
        assert me.live_runs() == 2 and me.threads() == 2
        other.kill()  # killed: the kernel drops its lock, its file is stale
        other.join()
        assert me.live_runs() == 1 and me.threads() == 4
        assert len(os.listdir(folder)) == 1  # the stale registration was removed
    assert os.listdir(folder) == []


def test_reserved_cores_and_a_fixed_thread_count(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with CpuShare(reserved=2, folder=str(tmp_path), cores=8) as share:
        assert share.threads() == 6  # the env worker processes keep 2 cores busy
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    with CpuShare(folder=str(tmp_path), cores=8) as share:
        assert share.threads() == 3 and os.listdir(tmp_path) == []  # fixed by the user: not registered
