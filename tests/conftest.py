"""Test-wide settings: one torch thread (and one OpenMP thread in subprocesses), because test runs share a small
machine and torch's spinning worker threads slow everything down badly when cores are oversubscribed."""
import os

import torch

os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)
