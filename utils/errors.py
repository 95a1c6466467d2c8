"""The one exception type for problems a user can fix (bad flags, files, servers).

`main.py` prints it as a single line and exits with status 2; everything else is a bug.
"""


class UserError(Exception):
    """A problem with the user's input or environment, explained in one line."""
