"""`init` and `step:K`: pruned rounds start from round 0's weights at step 0 (theta0) or step K.

Frankle & Carbin 2019 rewind to initialisation; Frankle et al. 2020 ("Linear
Mode Connectivity and the Lottery Ticket Hypothesis") to an early step K.
Round 0 saves the snapshot as the run's rewind point.
"""

from __future__ import annotations

from dataclasses import dataclass

from lth_tf.core.rewind.base import RewindMode


@dataclass(frozen=True)
class Init(RewindMode):
    word = "init"
    usage = "init"

    @property
    def snapshot_step(self) -> int:
        return 0


@dataclass(frozen=True)
class StepK(RewindMode):
    word = "step"
    takes_step = True
    usage = "step:K (K>=0)"

    step: int = 0

    @property
    def snapshot_step(self) -> int:
        return self.step

    @property
    def label(self) -> str:
        return "init" if self.step == 0 else f"step:{self.step}"
