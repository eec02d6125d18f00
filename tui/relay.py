"""Lottery events -> TUI messages, in whichever thread the events arrive.

Both the training driver (as the search's sink) and the run follower (reading
events.jsonl) feed events through an EventRelay, so a live run and a replayed
one look the same to the run screen. Events are parsed once, into the typed
records of `lth_tf.core.events`; the screen gets them wrapped in `messages.LthEvent`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lth_tf.core import events as E
from tui import messages as m

Post = Callable[[Any], Any]  # a thread-safe post_message

# Per-epoch numbers worth a curve; anything else in the Keras logs is ignored.
CURVE_KEYS = (
    "loss", "val_loss", "acc", "val_acc", *E.KD_KEYS,
    "mask_distance",  # early-bird rounds: how far the next mask moved this epoch
)


class EventRelay:
    """A lottery event sink that turns events into TUI messages.

    It keeps each round's epoch history so that every epoch message is complete
    on its own and the UI may drop all but the newest.
    """

    def __init__(self, post: Post):
        self.post = post
        self._history: dict[int, dict[str, list[float]]] = {}
        self._seconds: dict[int, list[float]] = {}

    def __call__(self, event: E.Event) -> None:
        msg = self.translate(event)
        if msg is not None:
            self.post(msg)

    def translate(self, event: E.Event) -> m.LthEvent | None:
        record = E.parse(event)
        if record is None:  # not an event of this version's schema: nothing to show
            return None
        if isinstance(record, E.RoundStarted):
            self._history[record.round] = {}
            self._seconds[record.round] = []
        elif isinstance(record, E.EpochEnd):
            hist = self._history.setdefault(record.round, {})
            for key in CURVE_KEYS:
                if isinstance(record.logs.get(key), (int, float)):
                    hist.setdefault(key, []).append(float(record.logs[key]))
            secs = self._seconds.setdefault(record.round, [])
            if isinstance(record.seconds, (int, float)):
                secs.append(float(record.seconds))
            return m.LthEvent(record, self._copy_history(record.round), list(secs))
        elif isinstance(record, E.RoundFinished):
            return m.LthEvent(record, self._copy_history(record.round))
        return m.LthEvent(record)

    def _copy_history(self, r: int) -> dict[str, list[float]]:
        return {k: list(v) for k, v in self._history.get(r, {}).items()}  # the UI owns copies
