"""Per-run metrics: TensorBoard event files (the official tags) and the same numbers in metrics.csv."""
import csv
import math
import os

TRAIN_TAGS = ["Train/Return Mean", "Train/Return Std", "Train/Eplen", "Train/Success Rate", "Train/Loss",
              "Train/Mean Entropy", "Train/Kickstarting Loss", "Train/Policy Loss", "Train/Value Loss",
              "Train/Kickstarting Coef", "Train/Approx KL", "Train/Clip Fraction", "Train/Episodes"]
TEST_TAGS = ["Test/Return", "Test/Eplen", "Test/Success Rate"]
CHART_TAGS = ["charts/SPS", "charts/collect_SPS", "charts/update_seconds", "Teacher/Missing Texts"]
BASE_COLUMNS = ["iteration", "env_steps", "wall_time"]


class RunLogger:
    def __init__(self, run_dir, extra_tags=(), resume_iteration=None):
        from torch.utils.tensorboard import SummaryWriter
        self.run_dir = run_dir
        self.tags = TRAIN_TAGS + TEST_TAGS + CHART_TAGS + [t for t in extra_tags if t not in TRAIN_TAGS + TEST_TAGS + CHART_TAGS]
        self.csv_path = os.path.join(run_dir, "metrics.csv")
        rows = []
        if resume_iteration is not None and os.path.exists(self.csv_path):
            # keep the rows up to the resumed iteration; later ones are recomputed by the resumed run
            with open(self.csv_path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["iteration"]) <= resume_iteration]
        self.writer = SummaryWriter(run_dir, purge_step=None)
        self._csv_file = open(self.csv_path, "w", newline="")
        self._csv = csv.DictWriter(self._csv_file, fieldnames=BASE_COLUMNS + self.tags, extrasaction="ignore")
        self._csv.writeheader()
        for r in rows:
            self._csv.writerow(r)
        self._csv_file.flush()

    def hyperparameters(self, config):
        table = "\n".join(f"|{k}|{v}|" for k, v in sorted(config.items()))
        self.writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")

    def log(self, iteration, env_steps, wall_time, metrics):
        for tag, value in metrics.items():
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                self.writer.add_scalar(tag, value, env_steps)
        row = {"iteration": iteration, "env_steps": env_steps, "wall_time": round(wall_time, 3)}
        row.update({k: v for k, v in metrics.items() if v is not None})
        self._csv.writerow(row)
        self._csv_file.flush()

    def flush(self):
        self.writer.flush()
        self._csv_file.flush()

    def close(self):
        self.writer.close()
        self._csv_file.close()
