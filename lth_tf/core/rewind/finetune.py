"""`finetune`: keep round r-1's trained weights and train at a small constant rate.

The rate is train.finetune_lr, or train.learning_rate / 10 when that is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from lth_tf.core.rewind.base import RewindMode, TrainSettings


@dataclass(frozen=True)
class Finetune(RewindMode):
    word = "finetune"
    usage = "finetune"

    def constant_lr(self, train: TrainSettings) -> float:
        return train.finetune_lr or train.learning_rate / 10
