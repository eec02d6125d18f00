"""The one exception type for errors a user can cause."""

from __future__ import annotations


class LthError(Exception):
    """A problem the user can fix (bad config, missing data, corrupt checkpoint).

    The message is one line that names the offending value and the fix; the CLI
    prints it without a traceback and exits with code 2.
    """
