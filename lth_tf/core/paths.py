"""What a path is, in words, and what a full disk says: for messages that name the right thing.

"X does not exist" is wrong when X is there as a folder, a FIFO or a broken link;
`what_is` names what it is, `is_regular_file` is the check a reader of a user's
file makes first (a FIFO or device would block or never end).
`NoSpace` is the one-line error of a write that met a full disk (ENOSPC, EDQUOT):
it names the file lth-tf meant to write (never a temporary name), the space free
and, when known, the space needed. `link_refusal` is the one-line error for a link
where lth-tf writes its own file (it never writes through one). Pure: `os.stat` and `shutil.disk_usage` only.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
from pathlib import Path

from lth_tf.core.errors import LthError

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


# -- links ----------------------------------------------------------------------------------------
def link_refusal(path: str | Path) -> LthError:
    """LthError for a symbolic link where lth-tf writes (or appends to) its own file or folder."""
    try:
        to = f" to {os.readlink(path)}"
    except OSError:
        to = ""
    return LthError(
        f"{path} is a symbolic link{to}; lth-tf writes only files and folders it made there and never "
        "through a link: move the link away (its target is untouched), then run the same command again"
    )


# -- a full disk -------------------------------------------------------------------------------
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class NoSpace(LthError):
    """A write that found its disk (or quota) full; names the file lth-tf was writing."""

    def __init__(self, path: str | Path, needed: int | None = None):
        self.path, self.needed = Path(path), needed
        free = free_bytes(path)
        have = f"{size_text(free)} free" if free is not None else "the disk is full"
        need = f", about {size_text(needed)} needed" if needed else ""
        super().__init__(
            f"no space left to write {self.path} ({have}{need}); free some space on that disk "
            "(or use another --out), then run the same command again: what was stored before is kept"
        )


# How libraries that do not raise OSError (TensorFlow's ResourceExhaustedError, ...) say it.
NO_SPACE_WORDS = tuple(os.strerror(n) for n in NO_SPACE_ERRNOS)


def is_no_space(e: BaseException) -> bool:
    """A full disk or quota, as an OSError or as another library's error saying so."""
    if isinstance(e, NoSpace) or (isinstance(e, OSError) and e.errno in NO_SPACE_ERRNOS):
        return True
    return isinstance(e, Exception) and any(w in str(e) for w in NO_SPACE_WORDS)


def path_in(e: BaseException) -> Path | None:
    """The file an error names: an OSError's filename, or the first absolute path in its text."""
    name = getattr(e, "filename", None)
    if isinstance(name, (str, Path)):
        return Path(name)
    m = re.search(r"(/[^\s;:'\"{}]+)", str(e))
    return Path(m.group(1)) if m else None


def free_bytes(path: str | Path) -> int | None:
    """Bytes free to this user on the file system that holds (or would hold) `path`."""
    p = Path(path)
    for candidate in (p, *p.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def size_text(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
