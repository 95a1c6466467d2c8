"""Per-run progress display: a tqdm bar on a terminal, one plain line per iteration otherwise (CI logs).

    progress = Progress(total_iterations)
    progress.update(iteration, env_steps, sps, train_success, eval_success, coef)
    progress.message("saved checkpoint")        # a line that does not break the bar
    progress.close()

Plain lines look like
    itr 120/2000 | steps 150,000 | 2,150 sps | train success 0.80 | eval 0.90 | coef 9.40
(`itr 12/~193`: the iteration an env-step budget will end the run at, estimated from the iterations so far);
`eval` shows the latest evaluation so far ("-" before the first); a field whose value is None is left out
(except eval). `mode` forces "bar" or "plain" (tests); "auto" picks by `stream.isatty()`.
"""
import math
import sys

MODES = ("auto", "bar", "plain")


def _is_tty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _num(value):
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def format_fields(iteration, total, env_steps, sps, train_success, eval_success, coef, teacher=None,
                  estimated=False):
    """The status fields, in display order, as strings (None values dropped; eval shows '-' when unknown);
    teacher: a live LLM teacher's state, e.g. "llm 40 answered, 3 pending, taught 0.93"; estimated: the total is an
    estimate ("itr 12/~193")."""
    fields = [f"itr {iteration}/{'~' if estimated else ''}{total}"]
    if _num(env_steps):
        fields.append(f"steps {int(env_steps):,}")
    if _num(sps):
        fields.append(f"{sps:,.0f} sps")
    if _num(train_success):
        fields.append(f"train success {train_success:.2f}")
    fields.append(f"eval {eval_success:.2f}" if _num(eval_success) else "eval -")
    if _num(coef):
        fields.append(f"coef {coef:.2f}")
    if teacher:
        fields.append(str(teacher))
    return fields


class Progress:
    def __init__(self, total_iterations, enabled=True, mode="auto", stream=None, every=1):
        """total_iterations: the bar's length; enabled=False shows no progress (message() still prints);
        mode: "auto" (tqdm on a TTY, plain lines otherwise), "bar" or "plain"; stream: default sys.stdout;
        every: in plain mode print every n-th iteration (and always the last one)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.total = int(total_iterations)
        self.enabled = bool(enabled)
        self.stream = stream if stream is not None else sys.stdout
        self.every = max(1, int(every))
        if mode == "auto":
            mode = "bar" if _is_tty(self.stream) else "plain"
        self.mode = mode
        self.last_eval = None
        self.estimated = False
        self._bar = None
        if self.enabled and self.mode == "bar":
            from tqdm import tqdm
            self._bar = tqdm(total=self.total, file=self.stream, unit="itr", dynamic_ncols=True, leave=True)

    def update(self, iteration, env_steps, sps=None, train_success=None, eval_success=None, coef=None,
               teacher=None, total=None, estimated=False):
        """Report that `iteration` (1-based count of finished iterations) is done; total: the iteration that will
        end the run, where it is now known better than at the start (an env-step budget); estimated: that total is
        an estimate (from the env steps of the iterations so far)."""
        self.estimated = bool(estimated) and total is not None
        if total is not None and int(total) != self.total:
            self.total = int(total)
            if self._bar is not None:
                self._bar.total = self.total
        if _num(eval_success):
            self.last_eval = float(eval_success)
        if not self.enabled:
            return
        fields = format_fields(iteration, self.total, env_steps, sps, train_success, self.last_eval, coef, teacher,
                               self.estimated)
        if self._bar is not None:
            step = int(iteration) - self._bar.n
            if step:
                self._bar.update(step)
            self._bar.set_postfix_str(" | ".join(fields[1:]), refresh=True)
        elif int(iteration) % self.every == 0 or int(iteration) >= self.total:
            print(" | ".join(fields), file=self.stream, flush=True)

    def message(self, text):
        """Print a line of text (above the bar in bar mode)."""
        if self._bar is not None:
            self._bar.write(str(text), file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
