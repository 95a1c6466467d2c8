"""Per-run metrics: one TensorBoard event file (the official tags) and the same numbers in metrics.csv.

A resumed run keeps exactly the metrics up to its checkpoint: metrics.csv is rewritten (atomically) without later
rows, which the resumed run computes again, and a new event file is written from those rows that replaces the
earlier session's, so a run folder holds one event file however often it was interrupted, with no orphaned
scalars of a crashed session in it.
"""
import csv
import glob
import io
import math
import os

from utils.atomic import atomic_write
from utils.errors import UserError

TRAIN_TAGS = ["Train/Return Mean", "Train/Return Std", "Train/Eplen", "Train/Success Rate", "Train/Loss",
              "Train/Mean Entropy", "Train/Kickstarting Loss", "Train/Policy Loss", "Train/Value Loss",
              "Train/Kickstarting Coef", "Train/Approx KL", "Train/Clip Fraction", "Train/Episodes",
              "Train/Learning Rate"]
TEST_TAGS = ["Test/Return", "Test/Eplen", "Test/Success Rate"]
CHART_TAGS = ["charts/SPS", "charts/collect_SPS", "charts/update_seconds", "Teacher/Missing Texts"]
BASE_COLUMNS = ["iteration", "env_steps", "wall_time"]
EVENTS = "events.out.tfevents.*"


def _kept_rows(path, resume_iteration):
    """Rows of an existing metrics.csv up to resume_iteration (UserError when the file is unreadable)."""
    try:
        with open(path, newline="") as f:
            return [r for r in csv.DictReader(f) if int(r["iteration"]) <= resume_iteration]
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, csv.Error, KeyError, TypeError, ValueError) as e:
        raise UserError(f"cannot continue {path}: malformed or unreadable ({type(e).__name__}: {e})") from None


def number(text):
    """A metrics.csv cell as a finite float, or None (empty, not a number, NaN, inf)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class RunLogger:
    def __init__(self, run_dir, extra_tags=(), resume_iteration=None, hyperparameters=None):
        from torch.utils.tensorboard import SummaryWriter
        self.run_dir = run_dir
        known = TRAIN_TAGS + TEST_TAGS + CHART_TAGS
        self.tags = known + [t for t in extra_tags if t not in known]
        self.csv_path = os.path.join(run_dir, "metrics.csv")
        fields = BASE_COLUMNS + self.tags
        rows = _kept_rows(self.csv_path, resume_iteration) if resume_iteration is not None else []
        self.writer = self._csv_file = None
        try:
            text = io.StringIO()
            out = csv.DictWriter(text, fieldnames=fields, extrasaction="ignore")
            out.writeheader()
            out.writerows(rows)
            atomic_write(self.csv_path, text.getvalue(), what="metrics")
            self._csv_file = open(self.csv_path, "a", newline="")
            self._csv = csv.DictWriter(self._csv_file, fieldnames=fields, extrasaction="ignore")
            old_events = glob.glob(os.path.join(run_dir, EVENTS))
            self.writer = self._new_events(SummaryWriter, rows, hyperparameters, replace=old_events)
        except OSError as e:
            self.close()
            raise UserError(f"cannot write the logs of {run_dir}: {e.strerror or e}") from None

    def _new_events(self, writer_class, rows, hyperparameters, replace):
        """A SummaryWriter on a new event file that first receives `rows` again (and the hyperparameter table);
        the event files in `replace` (an earlier session's) are removed once it is flushed."""
        writer = writer_class(self.run_dir)
        if hyperparameters:
            table = "\n".join(f"|{k}|{v}|" for k, v in sorted(hyperparameters.items()))
            writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")
        for row in rows:
            step = int(float(row["env_steps"]))
            for tag in self.tags:
                value = number(row.get(tag))
                if value is not None:
                    writer.add_scalar(tag, value, step)
        writer.flush()
        for old in replace:
            os.unlink(old)
        return writer

    def log(self, iteration, env_steps, wall_time, metrics):
        for tag, value in metrics.items():
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                self.writer.add_scalar(tag, value, env_steps)
        row = {"iteration": iteration, "env_steps": env_steps, "wall_time": round(wall_time, 3)}
        row.update({k: v for k, v in metrics.items() if v is not None})
        try:
            self._csv.writerow(row)
            self._csv_file.flush()
        except OSError as e:
            raise UserError(f"cannot write {self.csv_path}: {e.strerror or e}") from None

    def flush(self):
        self.writer.flush()
        try:
            self._csv_file.flush()
        except OSError as e:
            raise UserError(f"cannot write {self.csv_path}: {e.strerror or e}") from None

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self._csv_file is not None:
            try:
                self._csv_file.close()
            except OSError:
                pass
            self._csv_file = None
