"""Helpers of the bad-input tests (tests/test_bad_input*.py): a CLI call's exit status and output, the one-line error
they must show, and a finished run's files to damage."""
import os
import shutil

import torch

import main

TASK = "SimpleDoorKey"


def call(capsys, argv):
    capsys.readouterr()
    try:
        rc = main.main([str(a) for a in argv])
    except SystemExit as e:  # argparse errors exit from inside parse_args
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc, err, *fragments):
    assert rc == 2, err
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def run_dir_of(logdir, name="t", seed=0):
    return os.path.join(str(logdir), "ppo", TASK, f"{name}-{seed}")


def copy_run(trained, tmp_path, name="copy"):
    dest = tmp_path / name
    shutil.copytree(trained, dest)
    return dest


def edit_checkpoint(path, change):
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)

