"""What the run screen knows about a run, built from messages on the UI thread.

Plain data, no widgets: the screen applies a message here, then redraws the
widgets from it. Rounds are keyed by number, so replaying an event log after
seeing summary.json (or a resumed run's old events) never duplicates a row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lth_tf.core import schedule
from lth_tf.core.cost import cumulative


@dataclass
class RoundInfo:
    round: int
    target_sparsity: float = 0.0
    epochs: int = 0
    epoch: int = 0
    finished: bool = False
    sparsity: float | None = None
    val_acc: float | None = None
    test_acc: float | None = None
    seconds: float | None = None
    layer_sparsity: dict[str, float] = field(default_factory=dict)
    distill: dict[str, float] | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)
    cost: dict[str, float] | None = None  # this round's training cost (lth_tf.core.cost)
    stopped_at: int | None = None  # early-bird: the epoch the round stopped after
    inference: dict[str, float] | None = None  # params, nonzeros, flops (flops.inference_size)

    @property
    def shown_sparsity(self) -> float:
        return self.sparsity if self.sparsity is not None else self.target_sparsity

    def eta_seconds(self) -> float | None:
        """Seconds left in this round from the mean epoch time so far."""
        if self.finished or not self.epoch_seconds or not self.epochs:
            return None
        mean = sum(self.epoch_seconds) / len(self.epoch_seconds)
        return max(0.0, mean * (self.epochs - self.epoch))


@dataclass
class Control:
    kind: str
    round: int
    sparsity: float
    test_acc: float | None
    val_acc: float | None = None


@dataclass
class RunState:
    run_dir: str = ""
    preset: str | None = None
    model: str = ""
    dataset: str = ""
    planned_rounds: int = 0  # pruning rounds after round 0 (1 for one-shot)
    rate: float | None = None  # prune.rate
    prune_rounds: int = 0  # prune.rounds: with rate and rate_schedule, fixes the final sparsity
    rate_schedule: str = schedule.CONSTANT  # prune.rate_schedule
    kd_enabled: bool = False
    kd_from_round: int = 1
    status: str = "starting"  # running | finished | failed | stopped
    error: str | None = None
    rounds: dict[int, RoundInfo] = field(default_factory=dict)
    controls: dict[tuple[str, int], Control] = field(default_factory=dict)
    ticket: dict[str, Any] | None = None
    no_ticket: str | None = None  # why a finished run has no ticket (lth_tf.core.winner's reason)
    current: int | None = None  # round in training, if any

    # -- derived --
    @property
    def dense(self) -> RoundInfo | None:
        r0 = self.rounds.get(0)
        return r0 if r0 is not None and r0.finished else None

    def finished_rounds(self) -> list[RoundInfo]:
        return [self.rounds[r] for r in sorted(self.rounds) if self.rounds[r].finished]

    def final_sparsity(self) -> float | None:
        """Sparsity planned after the last round (for a stable chart axis)."""
        if self.rate is None or not self.prune_rounds:
            return None
        try:
            return schedule.final_sparsity(self.rate, self.prune_rounds, self.rate_schedule)
        except ValueError:  # a schedule this version cannot read (an old or foreign run)
            return None

    def cost_to_reach(self, r: int) -> dict[str, float] | None:
        """Compute spent on rounds 0..r (None unless all of them are finished with a cost)."""
        rows = [
            {"cost": info.cost if info.finished else None}
            for k, info in sorted(self.rounds.items()) if k <= r
        ]
        if len(rows) != r + 1:
            return None
        return cumulative(rows)[-1]

    def delta_to_dense(self, info: RoundInfo) -> float | None:
        dense = self.dense
        if dense is None or dense.test_acc is None or info.test_acc is None:
            return None
        return info.test_acc - dense.test_acc

    # -- updates --
    def start(self, run_dir: str, preset: str | None, rounds: int, model: str, dataset: str,
              config: dict[str, Any]) -> None:
        self.run_dir, self.preset, self.model, self.dataset = run_dir, preset, model, dataset
        self.planned_rounds = rounds
        prune = config.get("prune") or {}
        distill = config.get("distill") or {}
        if isinstance(prune.get("rate"), (int, float)):
            self.rate = float(prune["rate"])
        if isinstance(prune.get("rounds"), int):
            self.prune_rounds = prune["rounds"]
        if isinstance(prune.get("rate_schedule"), str):
            self.rate_schedule = prune["rate_schedule"]
        self.kd_enabled = bool(distill.get("enabled", False))
        self.kd_from_round = int(distill.get("from_round", 1) or 1)
        self.status, self.error = "running", None
        # A new process (resume) discards rounds the previous one never finished.
        for r in [r for r, info in self.rounds.items() if not info.finished]:
            del self.rounds[r]
        self.current = None

    def round_started(self, r: int, target: float, epochs: int) -> RoundInfo:
        info = RoundInfo(round=r, target_sparsity=target, epochs=epochs)
        self.rounds[r] = info
        self.current = r
        return info

    def epoch(self, r: int, epoch: int, epochs: int, history: dict[str, list[float]],
              seconds: list[float]) -> RoundInfo:
        info = self.rounds.get(r) or self.round_started(r, 0.0, epochs)
        info.epoch, info.epochs = epoch, epochs or info.epochs
        info.history, info.epoch_seconds = history, seconds
        return info

    def round_finished(self, r: int, **fields: Any) -> RoundInfo:
        info = self.rounds.get(r) or RoundInfo(round=r)
        self.rounds[r] = info
        history = fields.pop("history", None)
        for key, value in fields.items():
            setattr(info, key, value)
        if history:
            info.history = history
        info.finished = True
        info.epoch = max(info.epoch, info.epochs)
        if self.current == r:
            self.current = None
        return info

    def control(self, kind: str, r: int, sparsity: float, test_acc: float | None,
                val_acc: float | None = None) -> None:
        self.controls[(kind, r)] = Control(kind, r, sparsity, test_acc, val_acc)

    def drop_unfinished(self) -> list[int]:
        """After a stop: the round in training is discarded."""
        gone = [r for r, info in self.rounds.items() if not info.finished]
        for r in gone:
            del self.rounds[r]
        self.current = None
        return gone

    def apply_summary(self, summary: dict[str, Any]) -> list[int]:
        """Fill in rounds, controls and ticket from summary.json; returns new rounds."""
        new = []
        for row in summary.get("rounds") or []:
            r = int(row.get("round", 0))
            known = self.rounds.get(r)
            if known is None or not known.finished:
                new.append(r)
            self.round_finished(
                r,
                sparsity=float(row.get("sparsity") or 0.0),
                val_acc=row.get("val_acc"),
                test_acc=row.get("test_acc"),
                seconds=row.get("seconds"),
                layer_sparsity=dict(row.get("layer_sparsity") or {}),
                distill=row.get("distill"),
                cost=row.get("cost"),
                stopped_at=row.get("stopped_at"),
                inference=row.get("inference"),
            )
        for c in summary.get("controls") or []:
            self.control(c.get("kind", "?"), int(c.get("round", 0)), float(c.get("sparsity") or 0),
                         c.get("test_acc"), c.get("val_acc"))
        if summary.get("ticket"):
            self.ticket = summary["ticket"]
        elif summary.get("status") == "finished" and isinstance(summary.get("winner"), dict):
            self.no_ticket = summary["winner"].get("reason")
        if summary.get("preset") and not self.preset:
            self.preset = summary["preset"]
        status = summary.get("status")
        if status == "finished":
            self.status = "finished"
        return new


def pct(x: float | None, digits: int = 1) -> str:
    """0.8123 -> '81.2%'; None -> '–'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{100 * x:.{digits}f}%"


def points(x: float | None) -> str:
    """A difference of accuracies in percentage points: +0.4 / −1.2."""
    if x is None:
        return "–"
    v = 100 * x
    if abs(v) < 0.05:
        return "±0.0"
    return f"{'+' if v > 0 else '−'}{abs(v):.1f}"


def loss(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def duration(seconds: float | None) -> str:
    """12.3 -> '12s'; 75 -> '1:15'; 3725 -> '1:02:05'."""
    if seconds is None:
        return "–"
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    h, rest = divmod(s, 3600)
    mins, secs = divmod(rest, 60)
    return f"{h}:{mins:02d}:{secs:02d}" if h else f"{mins}:{secs:02d}"
