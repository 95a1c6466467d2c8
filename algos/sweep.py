"""Sweeps (placeholder while the restructure lands)."""
from dataclasses import dataclass

from utils.errors import UserError
from utils.options import option

SWEEP = ("sweep",)


@dataclass
class SweepOptions:
    section = "sweep"
    tasks: list[str] = option(["SimpleDoorKey"], "tasks to run ('all': the four tasks)", commands=SWEEP)


def sweep(config, options, given):
    raise UserError("sweep is not available yet")
