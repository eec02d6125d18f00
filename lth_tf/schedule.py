"""The pruning schedule: how many rounds, what sparsity each reaches, where they rewind to.

The one home of these facts for the engine, the CLI, the TUI and the presets'
descriptions. Pure Python (no numpy, no TensorFlow), so the TUI and the CLI's
early checks use it before TensorFlow loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def expected_sparsity(rate: float, rounds: int) -> float:
    """Sparsity after `rounds` rounds that each prune `rate` of the remaining weights."""
    return 1.0 - (1.0 - rate) ** rounds


def planned_rounds(rounds: int, one_shot: bool) -> int:
    """Pruning rounds after the dense round 0 (one-shot prunes in one)."""
    return 1 if one_shot else rounds


def final_sparsity(rate: float, rounds: int) -> float:
    """The sparsity the run ends at, iterative or one-shot (`rounds` is prune.rounds)."""
    return expected_sparsity(rate, rounds)


def target_sparsity(rate: float, rounds: int, one_shot: bool, r: int) -> float:
    """The planned sparsity after round r (one-shot reaches the final one at once)."""
    if r == 0:
        return 0.0
    return expected_sparsity(rate, rounds if one_shot else r)


@dataclass(frozen=True)
class RewindMode:
    """Parsed `prune.rewind`: where round r>=1 starts and how it trains."""

    kind: str  # "step" (init is step 0) | "lr" | "finetune"
    step: int = 0  # for "step"; "init" is step 0

    @classmethod
    def parse(cls, text: str) -> RewindMode:
        if text == "init":
            return cls("step", 0)
        m = re.fullmatch(r"step:(\d+)", text)
        if m:
            return cls("step", int(m.group(1)))
        if text in ("lr", "finetune"):
            return cls(text)
        raise ValueError(f"unknown rewind mode {text!r}")

    @property
    def uses_snapshot(self) -> bool:
        """True when rounds restart from weights saved during round 0."""
        return self.kind == "step"

    @property
    def label(self) -> str:
        if self.kind == "step":
            return "init" if self.step == 0 else f"step:{self.step}"
        return self.kind
