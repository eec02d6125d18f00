"""Messages from the background threads (training driver, run follower) to the UI.

Each is a small dataclass. The threads never touch widgets: they post these
(`post_message` is thread-safe) and the run screen applies them. Lottery events
arrive as one generic `LthEvent` holding the event's typed record (the schema
lives in lth_tf/core/events/records.py only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

from lth_tf.core import events as E


@dataclass
class LthEvent(Message):
    """A lottery event (a typed record of `lth_tf.core.events`) from the driver or the follower.

    Epoch and round_finished messages also carry the round's curves so far
    (`history`) and epoch times, so a newer epoch message supersedes an older
    one of the same round (`can_replace`) without losing a point of the curves.
    """

    record: E.Record
    history: dict[str, list[float]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(self.record, E.EpochEnd)
            and isinstance(message, LthEvent)
            and isinstance(message.record, E.EpochEnd)
            and message.record.round == self.record.round
        )


def failed(error: str, round: int | None = None) -> LthEvent:
    """The driver's own failure (no event of the search), shown like `run_failed`."""
    return LthEvent(E.RunFailed(error=error, round=round))


@dataclass
class SummaryLoaded(Message):
    """The contents of summary.json (attach mode, or what `finish()` returned)."""

    summary: dict[str, Any]


@dataclass
class SearchReady(Message):
    """The driver built its LotterySearch; the screen keeps it for exports."""

    search: Any
    run_dir: str


@dataclass
class Waiting(Message):
    """Step mode: the driver waits for `n`; `next_step` says what comes next."""

    next_step: str


@dataclass
class Status(Message):
    """A one-line status from a worker ("loading TensorFlow", "following ...")."""

    text: str
    phase: str | None = None  # step mode: the driver entered this phase


@dataclass
class DriverDone(Message):
    """The training driver returned: outcome is finished, stopped or failed."""

    outcome: str


@dataclass
class ExportStarted(Message):
    """An export of `round` began (TensorFlow is busy with it)."""

    round: int


@dataclass
class Exported(Message):
    round: int
    path: str


@dataclass
class ExportFailed(Message):
    """An export ended without a SavedModel; `error` is one line for the user."""

    round: int
    error: str


@dataclass
class Problem(Message):
    """An error a user can act on, shown in the UI instead of a traceback."""

    text: str
