"""Sinks: callables that receive every event dict (a file, memory, several at once)."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from lth_tf.core.errors import LthError
from lth_tf.core.events.records import Event
from lth_tf.core.paths import NoSpace, is_no_space, link_refusal, what_is


class JsonlSink:
    """Appends each event as one line and flushes, so a follower sees it at once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = json.dumps(event, sort_keys=False) + "\n"
        with self._lock:
            fd = _append_no_link(str(self.path), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                self._append(fd, line, fsync=event.get("event") != "epoch_end")
            finally:
                os.close(fd)

    def _append(self, fd: int, line: str, fsync: bool) -> None:
        """Write `line` whole or not at all (unbuffered: nothing is left for a close to flush)."""
        size = os.fstat(fd).st_size
        # a line torn by a kill (or a full disk) is ended first, so this one stays whole
        torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        data = (("\n" if torn else "") + line).encode("utf-8")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            # fsync only what a resume relies on; per-epoch fsyncs cost more than
            # a GCN training step and a lost epoch line is harmless.
            if fsync:
                os.fsync(fd)
        except OSError as e:
            os.ftruncate(fd, size)  # no half line left behind
            if is_no_space(e):
                raise NoSpace(self.path, len(data)) from None
            raise


def _append_no_link(path: str, flags: int) -> int:
    """Open a regular file for appending, never through a symbolic link, never a FIFO or device
    (a link to a user's file, or a pipe whose readers would block, is refused in one line)."""
    try:
        # read-write: the sink reads the last byte back (a torn line is ended first)
        fd = os.open(path, (flags & ~os.O_WRONLY) | os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
    except OSError:
        if os.path.islink(path):
            raise link_refusal(path) from None
        if what_is(path) not in ("missing", "a file"):  # a folder
            raise _not_a_file(path) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _not_a_file(path)
    return fd


def _not_a_file(path: str) -> LthError:
    return LthError(f"{path} is {what_is(path)}, not the events file a run writes; move it away, then run again")


class ListSink:
    """Keeps events in memory (for tests)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e["event"] == name]


class FanOut:
    """Sends every event to several sinks."""

    def __init__(self, *sinks: Callable[[Event], None]):
        self.sinks = [s for s in sinks if s is not None]

    def __call__(self, event: Event) -> None:
        for sink in self.sinks:
            sink(event)
