"""Every exception type the program raises on purpose, in one place.

`main.py` prints UserError (and its subclasses) as one `error: ...` line with exit status 2, WorkerError as one line
with status 1, and Interrupted with status 128 + the signal number. Anything else is a bug.
"""


class UserError(Exception):
    """A problem with the user's input or environment (flags, files, servers), explained in one line."""


class LLMError(UserError):
    """The LLM server could not give an answer (after the bounded retries); one line that names the URL."""


class Diverged(UserError):
    """Training produced a non-finite loss or weight; the last good checkpoint is kept."""


class WorkerError(Exception):
    """An environment worker process died. `log`: the file holding what the workers printed, if any."""

    def __init__(self, message, log=None):
        super().__init__(message)
        self.log = log


class Interrupted(KeyboardInterrupt):
    """Ctrl-C / SIGTERM that stops the program now (exit status 128 + signal number)."""

    def __init__(self, signum=2):
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def exit_status(self):
        return 128 + self.signum
