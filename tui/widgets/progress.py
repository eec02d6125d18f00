"""Progress of the round in training: epoch bar, ETA from epoch times, run status."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from tui.state import RoundInfo, duration


class RoundProgress(Horizontal):
    """One line: `Round 2 · epoch 3/10 [bar] 30% ETA 0:21 │ status`."""

    def compose(self) -> ComposeResult:
        yield Label("Round –", id="progress-label")
        # Our own ETA (from the epochs' training seconds) instead of the bar's
        # wall-clock estimate: it is exact for a replay and stable in snapshots.
        yield ProgressBar(total=None, show_eta=False, id="epoch-bar")
        yield Label("", id="eta")
        yield Label("starting…", id="status")

    def show_round(self, info: RoundInfo | None, label: str | None = None) -> None:
        bar = self.query_one(ProgressBar)
        text = self.query_one("#progress-label", Label)
        eta = self.query_one("#eta", Label)
        if info is None:
            text.update(label or "Round –")
            eta.update("")
            return
        epochs = max(info.epochs, 1)
        done = epochs if info.finished else min(info.epoch, epochs)
        bar.update(total=epochs, progress=done)
        text.update(label or f"Round {info.round} · epoch {done}/{info.epochs or '?'}")
        left = info.eta_seconds()
        eta.update("" if left is None else f"ETA {duration(left)}")

    def set_status(self, text: str, kind: str = "") -> None:
        status = self.query_one("#status", Label)
        status.update(text)
        status.set_classes(kind)
