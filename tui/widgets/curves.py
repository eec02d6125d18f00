"""Per-epoch curves of one round: KD losses (teacher, student, distill) when KD is on."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

from lth_tf.core.events import DISTILL_LOSS, STUDENT_LOSS, TEACHER_LOSS
from tui.state import RoundInfo

KD_CURVES = (("teacher", TEACHER_LOSS), ("student", STUDENT_LOSS), ("distill", DISTILL_LOSS))
PLAIN_CURVES = (("train loss", "loss"), ("val loss", "val_loss"), ("val acc", "val_acc"))


class CurvesPanel(Vertical):
    """Three labelled sparklines with the last value; the title says which round."""

    def compose(self) -> ComposeResult:
        yield Label("", id="curves-note")
        for i in range(3):
            with Horizontal(classes="curve"):
                yield Label("", id=f"curve-name-{i}", classes="curve-name")
                yield Sparkline([], id=f"curve-{i}")
                yield Label("", id=f"curve-value-{i}", classes="curve-value")

    def show(self, info: RoundInfo | None, kd_enabled: bool, kd_from_round: int = 1) -> str:
        """Draw the round's curves; returns the panel title."""
        history = info.history if info is not None else {}
        kd = any(history.get(key) for _, key in KD_CURVES)
        curves = KD_CURVES if kd else PLAIN_CURVES
        for i, (name, key) in enumerate(curves):
            values = history.get(key) or []
            self.query_one(f"#curve-name-{i}", Label).update(name)
            self.query_one(f"#curve-{i}", Sparkline).data = values
            last = "" if not values else f"{values[-1]:.3f}"
            self.query_one(f"#curve-value-{i}", Label).update(last)
        note = self.query_one("#curves-note", Label)
        if info is None:
            note.update("no round yet")
            return "Curves"
        n = len(next(iter(history.values()), []))
        moved = history.get("mask_distance")
        if moved and not info.finished:  # early-bird: how far the next mask moved this epoch
            note.update(f"{n} epochs · next mask moved {moved[-1]:.3f} (early-bird)")
            return f"Curves · round {info.round}"
        if kd:
            note.update(f"knowledge distillation, {n} epochs")
            return f"KD losses · round {info.round}"
        if kd_enabled and info.round < kd_from_round:
            what = "dense teacher round" if info.round == 0 else "before KD starts"
            note.update(f"{what}, {n} epochs (KD from round {kd_from_round})")
        elif kd_enabled:
            note.update(f"{n} epochs, no KD losses recorded")
        elif n:
            note.update(f"KD off · {n} epochs")
        else:
            note.update("KD off · no epochs recorded")
        return f"Curves · round {info.round}"
