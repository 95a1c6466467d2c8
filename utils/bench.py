"""What every benchmark script under bench/ does the same way.

    if __name__ == "__main__":
        run_bench(main)                               # one torch thread unless OMP_NUM_THREADS says; bad input: one line
    write_bench_json(path, "bench/x.py", argv, data)  # data + the command that made it + the machine
"""
import json
import os
import shlex
import sys

from utils.atomic import atomic_write
from utils.errors import UserError
from utils.machine import machine_line


def run_bench(main):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        sys.exit(main())
    except UserError as e:
        sys.exit(f"error: {e}")


def write_bench_json(path, script, argv, data):
    """argv: the bench's own arguments (None: this process's)."""
    args = sys.argv[1:] if argv is None else argv
    atomic_write(path, json.dumps({"command": f"python {script} " + shlex.join(args), "machine": machine_line(),
                                   **data}, indent=1) + "\n")
