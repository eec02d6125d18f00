"""What every rewind mode is: where a pruned round starts and how it trains.

Pure Python. The registry and the grammar of `prune.rewind` are in
lth_tf/core/rewind/__init__.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol


class TrainSettings(Protocol):  # lth_tf.core.config.Train (not imported: config imports this)
    learning_rate: float
    finetune_lr: float


@dataclass(frozen=True)
class RewindMode:
    """A parsed `prune.rewind`. Subclasses set the class attributes and override what differs.

    `word` is how prune.rewind spells it, followed by ":K" (a whole number,
    the dataclass field `step`) when `takes_step`; `usage` is its spelling in
    messages.
    """

    word: ClassVar[str] = ""
    takes_step: ClassVar[bool] = False
    usage: ClassVar[str] = ""

    @property
    def snapshot_step(self) -> int | None:
        """The training step of round 0 whose weights pruned rounds start from; None: no snapshot.

        Round 0 saves a snapshot (the run's rewind point) at that step.
        """
        return None

    @property
    def uses_snapshot(self) -> bool:
        """True: pruned rounds start from round 0's snapshot; False: from round r-1's trained weights."""
        return self.snapshot_step is not None

    def constant_lr(self, train: TrainSettings) -> float | None:
        """A constant learning rate for pruned rounds (and their controls); None: train.schedule."""
        return None

    @property
    def label(self) -> str:
        """The canonical prune.rewind text of this mode."""
        return self.word
