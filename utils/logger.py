"""Per-run metrics: TensorBoard event files (the official tags) and the same numbers in metrics.csv.

A resumed run (resume_iteration / resume_env_steps of its checkpoint) keeps exactly the metrics up to the
checkpoint: metrics.csv is rewritten atomically without later rows (the resumed run recomputes them), and the new
TensorBoard event file starts with purge_step = checkpoint env steps + 1, so TensorBoard drops the orphaned
scalars a crashed or killed run wrote after its last checkpoint (the x axis of every scalar is env steps).
"""
import csv
import math
import os
import tempfile

from utils.errors import UserError

TRAIN_TAGS = ["Train/Return Mean", "Train/Return Std", "Train/Eplen", "Train/Success Rate", "Train/Loss",
              "Train/Mean Entropy", "Train/Kickstarting Loss", "Train/Policy Loss", "Train/Value Loss",
              "Train/Kickstarting Coef", "Train/Approx KL", "Train/Clip Fraction", "Train/Episodes"]
TEST_TAGS = ["Test/Return", "Test/Eplen", "Test/Success Rate"]
CHART_TAGS = ["charts/SPS", "charts/collect_SPS", "charts/update_seconds", "Teacher/Missing Texts"]
BASE_COLUMNS = ["iteration", "env_steps", "wall_time"]


def _kept_rows(path, resume_iteration):
    """Rows of an existing metrics.csv up to resume_iteration (UserError when the file is unreadable)."""
    try:
        with open(path, newline="") as f:
            rows = []
            for r in csv.DictReader(f):
                if int(r["iteration"]) <= resume_iteration:
                    rows.append(r)
            return rows
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, csv.Error, KeyError, TypeError, ValueError) as e:
        raise UserError(f"cannot continue {path}: malformed or unreadable ({type(e).__name__}: {e})") from None


class RunLogger:
    def __init__(self, run_dir, extra_tags=(), resume_iteration=None, resume_env_steps=None):
        from torch.utils.tensorboard import SummaryWriter
        self.run_dir = run_dir
        self.tags = TRAIN_TAGS + TEST_TAGS + CHART_TAGS + [t for t in extra_tags if t not in TRAIN_TAGS + TEST_TAGS + CHART_TAGS]
        self.csv_path = os.path.join(run_dir, "metrics.csv")
        fields = BASE_COLUMNS + self.tags
        rows = _kept_rows(self.csv_path, resume_iteration) if resume_iteration is not None else []
        self.writer = None
        self._csv_file = None
        try:
            os.makedirs(run_dir, exist_ok=True)
            # the header and the kept rows go to a temporary file that replaces metrics.csv in one step, so an
            # interruption here never loses the rows of the previous session
            fd, tmp = tempfile.mkstemp(prefix=".metrics.", suffix=".tmp", dir=run_dir)
            try:
                with os.fdopen(fd, "w", newline="") as f:
                    out = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
                    out.writeheader()
                    for r in rows:
                        out.writerow(r)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.csv_path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
            self._csv_file = open(self.csv_path, "a", newline="")
            self._csv = csv.DictWriter(self._csv_file, fieldnames=fields, extrasaction="ignore")
            purge = None if resume_env_steps is None else int(resume_env_steps) + 1
            self.writer = SummaryWriter(run_dir, purge_step=purge)
        except OSError as e:
            self.close()
            raise UserError(f"cannot write the logs of {run_dir}: {e.strerror or e}") from None

    def hyperparameters(self, config):
        table = "\n".join(f"|{k}|{v}|" for k, v in sorted(config.items()))
        self.writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")

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
