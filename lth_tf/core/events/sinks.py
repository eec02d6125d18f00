"""Sinks: callables that receive every event dict (a file, memory, several at once)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

from lth_tf.core.errors import LthError
from lth_tf.core.events.records import Event


class JsonlSink:
    """Appends each event as one line and flushes, so a follower sees it at once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = json.dumps(event, sort_keys=False) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8", opener=_append_no_link) as f:
            f.write(line)
            f.flush()
            # fsync only what a resume relies on; per-epoch fsyncs cost more than
            # a GCN training step and a lost epoch line is harmless.
            if event.get("event") != "epoch_end":
                os.fsync(f.fileno())


def _append_no_link(path: str, flags: int) -> int:
    """Open for appending, never through a symbolic link (a link to a user's file is refused)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
    except OSError:
        if os.path.islink(path):
            raise LthError(
                f"{path} is a symbolic link to {os.readlink(path)}; lth-tf appends its events "
                "only to a file it made: move the link away (its target is untouched), then run again"
            ) from None
        raise


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
