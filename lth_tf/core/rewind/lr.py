"""`lr`: learning-rate rewinding (Renda et al. 2020): keep round r-1's trained weights, replay the schedule."""

from __future__ import annotations

from dataclasses import dataclass

from lth_tf.core.rewind.base import RewindMode


@dataclass(frozen=True)
class LearningRate(RewindMode):
    word = "lr"
    usage = "lr"
