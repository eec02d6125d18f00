"""Events: plain JSON-serialisable dicts, and sinks that consume them.

One schema, three consumers (events.jsonl, the console, the TUI). An event is
`{"event": NAME, "time": unix_seconds, ...fields}`; fields hold only floats,
ints, strings, bools, None, lists and dicts of those. No TensorFlow here.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

EVENT_NAMES = (
    "run_started",
    "round_started",
    "epoch_end",
    "round_finished",
    "control_finished",
    "ticket_exported",
    "run_finished",
    "run_failed",
)

Event = dict[str, Any]


def make_event(name: str, /, **fields: Any) -> Event:
    """Build an event; numpy scalars and non-finite floats are made JSON-safe.

    `name` is positional-only so an event may carry a field called `name`.
    """
    if name not in EVENT_NAMES:
        raise ValueError(f"No such event: {name}")
    if "event" in fields:
        raise ValueError("an event field may not be called 'event' (it holds the event name)")
    return {"event": name, "time": time.time(), **{k: clean(v) for k, v in fields.items()}}


def clean(v: Any) -> Any:
    """Convert numpy scalars/arrays to Python types; NaN/inf become None."""
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
        v = v.item()
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    if hasattr(v, "tolist"):
        return clean(v.tolist())
    return v


class Sink(Protocol):
    def __call__(self, event: Event) -> None: ...


class JsonlSink:
    """Appends each event as one line and flushes, so a follower sees it at once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = json.dumps(event, sort_keys=False) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            # fsync only what a resume relies on; per-epoch fsyncs cost more than
            # a GCN training step and a lost epoch line is harmless.
            if event.get("event") != "epoch_end":
                os.fsync(f.fileno())


class ListSink:
    """Keeps events in memory (tests, and the TUI's replay)."""

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


def read_events(path: str | Path) -> list[Event]:
    """All complete events of an events.jsonl (a torn last line is skipped)."""
    return list(iter_events(path))


def iter_events(path: str | Path) -> Iterator[Event]:
    p = Path(path)
    if not p.exists():
        return
    with open(p, "rb") as f:  # bytes: one damaged line must not stop the reading of the rest
        for raw in f:
            if not raw.endswith(b"\n"):
                break  # a writer was killed mid-line; the rest never came
            try:
                event = json.loads(raw.decode("utf-8"))
            except ValueError:  # not UTF-8 or not JSON (UnicodeDecodeError is a ValueError)
                continue
            if isinstance(event, dict):  # a damaged line can still parse as a number or list
                yield event


def follow_events(
    path: str | Path, stop: threading.Event, poll: float = 0.2
) -> Iterable[Event]:
    """Yield events as they are appended to `path` until `stop` is set."""
    p = Path(path)
    pos = 0
    buf = ""
    while not stop.is_set():
        if p.exists():
            with open(p, encoding="utf-8") as f:
                f.seek(pos)
                chunk = f.read()
                pos = f.tell()
            buf += chunk
            *lines, buf = buf.split("\n")
            for line in lines:
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        continue
        stop.wait(poll)
