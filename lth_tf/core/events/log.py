"""Reading events.jsonl back: all of it, lazily, or following it as it grows."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from lth_tf.core.events.records import Event


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
