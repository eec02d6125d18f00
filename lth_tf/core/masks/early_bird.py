"""Early-bird rounds (You et al., ICLR 2020): stop a round once its next mask stops changing.

Pure numpy, no TensorFlow. While a round trains, the mask the next pruning step
would take is computed at every epoch end; the round may stop once the distance
between consecutive such masks has stayed below `threshold` for `window`
consecutive epoch pairs:

    rule = EarlyBird(threshold=0.1, window=5)
    for epoch in ...:
        distance = rule.observe(next_masks, alive=current_masks)   # None at the first epoch
        if rule.stable:
            stop training

The distance is the normalised Hamming distance over the weights still in play:
the positions where the two masks differ, divided by the positions the current
round keeps (`alive`). Normalising by every weight instead would shrink the
distance with each round's sparsity (already pruned weights never differ), so a
fixed threshold would stop late rounds almost at once.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["EarlyBird", "mask_distance"]


def mask_distance(
    a: Mapping[str, np.ndarray],
    b: Mapping[str, np.ndarray],
    alive: Mapping[str, np.ndarray] | None = None,
) -> float:
    """Normalised Hamming distance between masks `a` and `b` (same keys and shapes).

    Counts positions where one mask keeps a weight and the other does not. With
    `alive`, only positions alive there (nonzero) count, and the count is divided
    by the number of alive positions; without it, by all positions. Keys of `alive`
    that `a` lacks are ignored; a layer missing from `alive` counts in full.
    """
    if set(a) != set(b):
        raise ValueError(f"masks cover different layers: {sorted(set(a) ^ set(b))}")
    differ = total = 0
    for key in sorted(a):
        ka, kb = np.asarray(a[key]) != 0, np.asarray(b[key]) != 0
        if ka.shape != kb.shape:
            raise ValueError(f"mask {key!r} has shapes {ka.shape} and {kb.shape}")
        diff = ka != kb
        if alive is not None and key in alive:
            live = np.asarray(alive[key]) != 0
            differ += int(np.count_nonzero(diff & live))
            total += int(np.count_nonzero(live))
        else:
            differ += int(np.count_nonzero(diff))
            total += diff.size
    return differ / total if total else 0.0


class EarlyBird:
    """The stopping rule: distances between consecutive masks below `threshold` for `window` epochs.

    Deterministic in its inputs: the same masks give the same stop epoch, so a
    round that is re-run (resume) stops where the uninterrupted run stopped.
    """

    def __init__(self, threshold: float, window: int):
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold {threshold} is outside (0, 1]")
        if window < 1:
            raise ValueError(f"window {window} must be at least 1")
        self.threshold = float(threshold)
        self.window = int(window)
        self.distances: list[float] = []  # one per epoch after the first
        self._previous: dict[str, np.ndarray] | None = None

    def observe(
        self, masks: Mapping[str, np.ndarray], alive: Mapping[str, np.ndarray] | None = None
    ) -> float | None:
        """Record this epoch's next-round masks; return the distance to the last epoch's (None at first)."""
        current = {k: np.asarray(v) for k, v in masks.items()}
        distance = None
        if self._previous is not None:
            distance = mask_distance(self._previous, current, alive)
            self.distances.append(distance)
        self._previous = current
        return distance

    @property
    def stable(self) -> bool:
        """True once the last `window` distances are all below the threshold."""
        recent = self.distances[-self.window :]
        return len(recent) == self.window and all(d < self.threshold for d in recent)
