"""One process at a time per run directory.

The lock is `flock(LOCK_EX)` on a lock file (`store.lock_path`) that the holder
fills with its pid, host and start time, so a second process can say who holds
it. The kernel drops an flock when its process dies, however it dies (kill -9
included), so the lock of a killed run is free again at once: the next process
takes it over and overwrites the stale pid. The file itself is never deleted
(deleting a lock file others may have open lets two processes hold "the" lock).

Within one process the lock is reentrant for the thread that holds it (the CLI
can hold it around a search that takes it again), and refused to other threads.
The lock file says which: the holder writes its thread next to its pid, so a
second acquire that finds the flock taken reads whether it is its own (then it
holds nothing and the outer holder releases) without a table in this module.
On a file system without locks (some network mounts) a warning is logged and
the run goes on unlocked. No TensorFlow here.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from lth_tf.core.errors import LthError
from lth_tf.core.paths import link_refusal

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# A holder writes its details right after it locks; a reader that finds the
# lock taken but the file still empty waits this long for them.
_DETAILS_WAIT = 0.5
# Another process may hold the lock for an instant only (`check_free` probing):
# acquiring retries for this long before it reports the holder.
_ACQUIRE_WAIT = 0.3


class RunLock:
    """A held run lock; `release()` (or leaving the `with` block) gives it back.

    `fd` None: nothing to give back (a reentrant acquire, whose outer holder
    releases, or a file system without locks).
    """

    def __init__(self, fd: int | None):
        self._fd = fd
        self._released = False

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # nobody holds it now; the next holder writes its own details
            os.close(self._fd)  # closing drops the flock

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(path: Path, run_dir: Path) -> RunLock:
    """Lock `path` (created with its folder if needed) for the run at `run_dir`.

    Raises LthError naming the holder's pid (and host, start time) if another
    process holds it, or if another thread of this process does.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = open_lock_file(path, run_dir, os.O_RDWR | os.O_CREAT)
    deadline = time.monotonic() + _ACQUIRE_WAIT
    while True:
        try:
            if fcntl is None:
                raise OSError("fcntl is not available")
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            details = _read_details(path)
            if not _ours(details) and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            os.close(fd)
            details = details if _ours(details) else holder(path)
            if _ours(details):
                if details.get("thread") == threading.get_ident():
                    return RunLock(None)  # reentrant: the outer holder releases
                raise LthError(
                    f"{run_dir} is in use by another job of this process (pid {os.getpid()}); "
                    "wait for it to finish"
                ) from None
            raise LthError(busy_message(run_dir, details)) from None
        except OSError as e:  # ENOLCK, EOPNOTSUPP: the file system has no locks
            os.close(fd)
            log.warning("cannot lock %s (%s); running without a lock", path, e)
            return RunLock(None)
    details = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "thread": threading.get_ident(),  # the holder within its process (reentrant for it alone)
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(details) + "\n").encode(), 0)
    os.fsync(fd)
    return RunLock(fd)


def open_lock_file(path: Path, run_dir: Path, flags: int) -> int:
    """Open the lock file, never through a link and never blocking: LthError unless it is a
    regular file (a link to a file outside the run would be truncated; a FIFO would hang)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
    except OSError:
        if path.is_symlink():  # ELOOP: refused, its target untouched
            raise link_refusal(path) from None
        if path.is_dir():
            raise _not_a_file(path, run_dir) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _not_a_file(path, run_dir)
    return fd


def _not_a_file(path: Path, run_dir: Path) -> LthError:
    return LthError(
        f"{path} is not a regular file; lth-tf keeps the lock of {run_dir} there: "
        "move it away, then run the same command again"
    )


def _ours(details: dict[str, Any] | None) -> bool:
    """Whether the lock's details name this process (then the flock held is ours)."""
    return bool(details) and details.get("pid") == os.getpid() and details.get("host") == socket.gethostname()


def check_free(path: Path, run_dir: Path) -> None:
    """LthError naming the holder if another process holds `path`; creates nothing.

    A fast early check (before TensorFlow loads); `acquire` is the real thing.
    """
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return
    fd = open_lock_file(path, run_dir, os.O_RDONLY)
    if fcntl is None:
        os.close(fd)
        return
    try:
        # A shared lock conflicts with the holder's exclusive one and with nothing else.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        details = holder(path)
        if _ours(details):
            return  # this process holds it; `acquire` decides about threads
        raise LthError(busy_message(run_dir, details)) from None
    except OSError:
        return  # no locks on this file system: `acquire` warns
    finally:
        os.close(fd)  # drops the shared lock, if taken


def holder(path: Path) -> dict[str, Any] | None:
    """The details the holder of `path` wrote ({pid, host, started, thread}), if any."""
    deadline = time.monotonic() + _DETAILS_WAIT
    while True:
        details = _read_details(path)
        if details is not None or time.monotonic() >= deadline:
            return details
        time.sleep(0.05)


def _read_details(path: Path) -> dict[str, Any] | None:
    try:
        details = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return details if isinstance(details, dict) and "pid" in details else None


def busy_message(run_dir: Path, details: dict[str, Any] | None) -> str:
    if not details:
        who = "another process (it has not written its pid yet)"
    else:
        who = (
            f"process {details.get('pid')} on {details.get('host')} since {details.get('started')}"
        )
    return (
        f"{run_dir} is in use by {who}; wait for it to finish or stop it, "
        "then run the same command again"
    )
