"""The Keras side of early-bird rounds: a callback that stops training once the next mask is stable.

At each epoch end it reads the wrapped model's kernels, computes the masks the
round's pruning step would take from them (`next_masks(kernels, masks)`, the
engine's own pruning rule, so global/layerwise, layer rates, exclusions and
one-shot all match what the round will really do), and feeds them to the pure
rule in `lth_tf.core.masks.early_bird`. It writes the distance into the epoch's logs
as `mask_distance`, so the `epoch_end` event, the history and TensorBoard carry it
(it must run before `training.callbacks.EpochEvents`), and sets `stop_training` when the rule
holds. Keras checks `stop_training` only at epoch ends, so a round always ends
after whole epochs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lth_tf.core.masks.early_bird import EarlyBird
from lth_tf.keras_side.pruning.mask_vars import get_kernels, get_masks
from lth_tf.platform.backend import keras

MaskRule = Callable[[dict[str, np.ndarray], dict[str, np.ndarray]], dict[str, np.ndarray]]


class EarlyBirdStop(keras.callbacks.Callback):
    """Stops a round's training once its next-round mask has settled."""

    def __init__(
        self,
        wrapped: keras.Model,
        next_masks: MaskRule,
        threshold: float,
        window: int,
    ):
        """`wrapped` is the pruned model (the student under KD, not the trainer)."""
        super().__init__()
        self.wrapped = wrapped
        self.next_masks = next_masks
        self.rule = EarlyBird(threshold, window)
        self.stopped_at: int | None = None  # 1-based epoch the rule stopped training after

    def on_epoch_end(self, epoch, logs=None):
        masks = get_masks(self.wrapped)
        proposed = self.next_masks(get_kernels(self.wrapped), masks)
        # Only the weights this round keeps are in play (excluded layers are not wrapped).
        distance = self.rule.observe(proposed, alive=masks)
        if logs is not None and distance is not None:
            logs["mask_distance"] = distance
        if self.rule.stable and self.stopped_at is None:
            self.stopped_at = epoch + 1
            self.model.stop_training = True

    @property
    def distances(self) -> list[float]:
        return list(self.rule.distances)
