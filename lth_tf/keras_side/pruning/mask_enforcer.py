"""The callbacks every `fit` of a wrapped model needs: tfmot's step counter and masks."""

from __future__ import annotations

from lth_tf.keras_side.pruning.mask_vars import apply_masks
from lth_tf.platform.backend import keras

# After lth_tf.platform.backend, so tfmot sees Keras 2 (tf_keras).
import tensorflow_model_optimization as tfmot  # isort: skip


class MaskEnforcer(keras.callbacks.Callback):
    """Re-applies the masks when training starts, after each epoch and when it ends.

    With it, pruned weights are exactly 0.0 whenever `fit` hands control back,
    even if training stopped mid-epoch or began from unmasked kernels.
    """

    def on_train_begin(self, logs: dict | None = None) -> None:
        apply_masks(self.model)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        apply_masks(self.model)

    def on_train_end(self, logs: dict | None = None) -> None:
        apply_masks(self.model)


def callbacks() -> list[keras.callbacks.Callback]:
    """Callbacks every `fit` of a wrapped model needs: tfmot's step counter and masks."""
    return [tfmot.sparsity.keras.UpdatePruningStep(), MaskEnforcer()]
