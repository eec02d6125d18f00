"""Lottery events -> TUI messages, in whichever thread the events arrive.

Both the training driver (as the search's sink) and the run follower (reading
events.jsonl) feed events through an EventRelay, so a live run and a replayed
one look the same to the run screen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tui import messages as m

Post = Callable[[Any], Any]  # a thread-safe post_message

# Per-epoch numbers worth a curve; anything else in the Keras logs is ignored.
CURVE_KEYS = (
    "loss",
    "val_loss",
    "acc",
    "val_acc",
    "student_loss",
    "distill_loss",
    "teacher_loss",
    "mask_distance",  # early-bird rounds: how far the next mask moved this epoch
)


class EventRelay:
    """A lottery event sink that turns events into TUI messages.

    It keeps each round's epoch history so that every `EpochEnded` message is
    complete on its own and the UI may drop all but the newest.
    """

    def __init__(self, post: Post):
        self.post = post
        self._history: dict[int, dict[str, list[float]]] = {}
        self._seconds: dict[int, list[float]] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        msg = self.translate(event)
        if msg is not None:
            self.post(msg)

    def translate(self, e: dict[str, Any]) -> Any:
        name = e.get("event")
        if name == "run_started":
            return m.RunStarted(
                run_dir=str(e.get("run_dir", "")),
                preset=e.get("preset"),
                rounds=int(e.get("rounds") or 0),
                resumed_from=e.get("resumed_from"),
                model=str(e.get("model", "")),
                dataset=str(e.get("dataset", "")),
                config=e.get("config") or {},
            )
        if name == "round_started":
            r = int(e["round"])
            self._history[r] = {}
            self._seconds[r] = []
            return m.RoundStarted(r, float(e.get("target_sparsity") or 0.0), int(e.get("epochs") or 0))
        if name == "epoch_end":
            r = int(e["round"])
            hist = self._history.setdefault(r, {})
            for key in CURVE_KEYS:
                if isinstance(e.get(key), (int, float)):
                    hist.setdefault(key, []).append(float(e[key]))
            secs = self._seconds.setdefault(r, [])
            if isinstance(e.get("seconds"), (int, float)):
                secs.append(float(e["seconds"]))
            return m.EpochEnded(
                round=r,
                epoch=int(e.get("epoch") or 0),
                epochs=int(e.get("epochs") or 0),
                history={k: list(v) for k, v in hist.items()},  # copies: the UI owns them
                epoch_seconds=list(secs),
            )
        if name == "round_finished":
            r = int(e["round"])
            return m.RoundFinished(
                round=r,
                sparsity=float(e.get("sparsity") or 0.0),
                val_acc=e.get("val_acc"),
                test_acc=e.get("test_acc"),
                seconds=e.get("seconds"),
                layer_sparsity=dict(e.get("layer_sparsity") or {}),
                distill=e.get("distill"),
                history={k: list(v) for k, v in self._history.get(r, {}).items()},
                cost=e.get("cost") if isinstance(e.get("cost"), dict) else None,
                stopped_at=(e.get("early_bird") or {}).get("stopped_at"),
            )
        if name == "control_finished":
            return m.ControlFinished(
                kind=str(e.get("kind", "")),
                round=int(e.get("round") or 0),
                sparsity=float(e.get("sparsity") or 0.0),
                val_acc=e.get("val_acc"),
                test_acc=e.get("test_acc"),
            )
        if name == "ticket_exported":
            return m.TicketExported(
                round=int(e.get("round") or 0),
                sparsity=float(e.get("sparsity") or 0.0),
                test_acc=e.get("test_acc"),
                path=str(e.get("path", "")),
            )
        if name == "run_finished":
            return m.RunFinished(run_dir=str(e.get("run_dir", "")), ticket=e.get("ticket"))
        if name == "run_failed":
            error = str(e.get("error", "unknown error"))
            # A user's mistake reads as its message alone, as the CLI prints it.
            error = error.removeprefix("LthError: ")
            return m.RunFailed(error=error, round=e.get("round"))
        return None
