"""Messages from the background threads (training driver, run follower) to the UI.

Each is a small dataclass. The threads never touch widgets: they post these
(`post_message` is thread-safe) and the run screen applies them. Epoch updates
carry the whole history of their round, so `can_replace` may drop stale ones
when the UI is busy without losing a point of the curves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


@dataclass
class RunStarted(Message):
    """`run_started`: a run (or its resumption) began."""

    run_dir: str
    preset: str | None
    rounds: int
    resumed_from: int | None
    model: str
    dataset: str
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class RoundStarted(Message):
    round: int
    target_sparsity: float
    epochs: int


@dataclass
class EpochEnded(Message):
    """`epoch_end`, with the round's history so far (a newer one supersedes it)."""

    round: int
    epoch: int
    epochs: int
    history: dict[str, list[float]]
    epoch_seconds: list[float]

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EpochEnded) and message.round == self.round


@dataclass
class RoundFinished(Message):
    round: int
    sparsity: float
    val_acc: float | None
    test_acc: float | None
    seconds: float | None
    layer_sparsity: dict[str, float]
    distill: dict[str, float] | None
    history: dict[str, list[float]] = field(default_factory=dict)
    cost: dict[str, float] | None = None  # what the round's training cost (lth_tf.cost)
    stopped_at: int | None = None  # early-bird: the epoch the round stopped after


@dataclass
class ControlFinished(Message):
    kind: str
    round: int
    sparsity: float
    val_acc: float | None
    test_acc: float | None


@dataclass
class TicketExported(Message):
    round: int
    sparsity: float
    test_acc: float | None
    path: str


@dataclass
class RunFinished(Message):
    run_dir: str
    ticket: dict[str, Any] | None


@dataclass
class RunFailed(Message):
    """`run_failed` from the search, or an error of the driver itself."""

    error: str
    round: int | None = None


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
