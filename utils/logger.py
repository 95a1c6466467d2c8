"""Per-run metrics: one TensorBoard event file (the official tags) and the same numbers in metrics.csv.

A resumed run keeps exactly the metrics up to its checkpoint: metrics.csv is rewritten (atomically) without later
rows, which the resumed run computes again, and a new event file is written from those rows that replaces the
earlier session's, so a run folder holds one event file however often it was interrupted, with no orphaned
scalars of a crashed session in it.

The rows so far also go into every checkpoint (`history()`, the CSV text): a resumed run takes them from there, so
a metrics.csv cut short, damaged or deleted since is restored whole. Only a checkpoint of an older version without
them makes the logger read metrics.csv, and one it cannot read completely stops the resume with one line.
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
              "Train/Kickstarting Coef", "Train/Teacher KL", "Train/Approx KL", "Train/Clip Fraction", "Train/Episodes",
              "Train/Learning Rate"]
TEST_TAGS = ["Test/Return", "Test/Eplen", "Test/Success Rate"]
CHART_TAGS = ["charts/SPS", "charts/collect_SPS", "charts/update_seconds", "Teacher/Missing Texts",
              "Teacher/Taught Share"]
BASE_COLUMNS = ["iteration", "env_steps", "wall_time"]
EVENTS = "events.out.tfevents.*"


def _rows_upto(text, iteration):
    """The rows of a metrics CSV text up to `iteration`; ValueError when it is cut short or has no header."""
    if text and not text.endswith("\n"):
        raise ValueError("it ends in the middle of a line (cut short?)")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in BASE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"no {missing[0]!r} column in its header")
    rows = []
    for row in reader:
        if None in row or None in row.values():
            raise ValueError(f"line {reader.line_num} has {'more' if None in row else 'fewer'} cells than the header")
        if int(row["iteration"]) <= iteration:
            rows.append(row)
    return rows


def kept_rows(path, resume_iteration, history=None):
    """The rows a run resumed at resume_iteration keeps: from its checkpoint's `history` (CSV text) when it has
    one, else from the metrics.csv at `path` (UserError when that is missing, unreadable or cut short)."""
    if history is not None:
        try:
            if not isinstance(history, str):
                raise TypeError(f"{type(history).__name__}, not text")
            return _rows_upto(history, resume_iteration)
        except (csv.Error, TypeError, ValueError) as e:
            raise UserError(f"cannot continue {os.path.dirname(path)}: the metrics in its checkpoint are "
                            f"malformed ({e})") from None
    advice = "put the run's complete metrics.csv back, or --fork the run to start a new one from its checkpoint"
    try:
        with open(path, newline="") as f:
            return _rows_upto(f.read(), resume_iteration)
    except FileNotFoundError:
        if resume_iteration > 0:
            raise UserError(f"cannot continue: {path} is missing and the checkpoint (of an older version) does not "
                            f"hold the metrics so far; {advice}") from None
        return []
    except (OSError, UnicodeDecodeError, csv.Error, KeyError, TypeError, ValueError) as e:
        raise UserError(f"cannot continue {path}: malformed or unreadable ({type(e).__name__}: {e}), and the "
                        f"checkpoint (of an older version) does not hold the metrics so far; {advice}") from None


def number(text):
    """A metrics.csv cell as a finite float, or None (empty, not a number, NaN, inf)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class RunLogger:
    """`history`: a resumed run's metrics up to `resume_iteration`, as its checkpoint holds them (see history())."""

    def __init__(self, run_dir, extra_tags=(), resume_iteration=None, hyperparameters=None, history=None):
        from torch.utils.tensorboard import SummaryWriter
        self.run_dir = run_dir
        known = TRAIN_TAGS + TEST_TAGS + CHART_TAGS
        self.tags = known + [t for t in extra_tags if t not in known]
        self.csv_path = os.path.join(run_dir, "metrics.csv")
        fields = BASE_COLUMNS + self.tags
        rows = kept_rows(self.csv_path, resume_iteration, history) if resume_iteration is not None else []
        self.writer = self._csv_file = None
        self._text = io.StringIO()  # what metrics.csv holds, for checkpoints
        self._mirror = csv.DictWriter(self._text, fieldnames=fields, extrasaction="ignore")
        self._mirror.writeheader()
        self._mirror.writerows(rows)
        try:
            atomic_write(self.csv_path, self._text.getvalue(), what="metrics")
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
        self._mirror.writerow(row)
        try:
            self._csv.writerow(row)
            self._csv_file.flush()
        except OSError as e:
            raise UserError(f"cannot write {self.csv_path}: {e.strerror or e}") from None

    def history(self):
        """The metrics so far as CSV text (metrics.csv's content), for a checkpoint: RunLogger(history=...)."""
        return self._text.getvalue()

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
