"""What a path is, in words, for messages about a path that exists but is of the wrong kind.

"X does not exist" is wrong when X is there as a folder, a FIFO or a broken link;
`what_is` names what it is, `regular_file` is the check every reader of a user's
file makes first (a FIFO or device would block or never end). Pure: `os.stat` only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISREG, "a file"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def what_is(path: str | Path) -> str:
    """"a folder", "a file", "a FIFO (named pipe)", ..., "a broken link" or "missing"."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a broken link" if os.path.islink(path) else "missing"
    except OSError as e:
        return f"unreadable ({e.strerror})"
    return next((word for test, word in _KINDS if test(mode)), "not a file or folder")


def is_regular_file(path: str | Path) -> bool:
    """A regular file (links followed): safe to open and read to its end."""
    return what_is(path) == "a file"
