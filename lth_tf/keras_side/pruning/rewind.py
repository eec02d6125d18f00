"""Rewinding: snapshot all weights at training step k, restore them masked later.

The snapshot holds every weight of the (wrapped) model: kernels, biases,
BatchNorm scale/offset and moving statistics. Rewinding restores them and then
writes the new round's masks, so every surviving weight equals its value at the
rewind point and every pruned one is 0.0. The optimizer is built fresh each
round, so no optimizer state is carried over.
"""

from __future__ import annotations

import numpy as np

from lth_tf.platform.backend import keras


class RewindCallback(keras.callbacks.Callback):
    """Snapshots the model's weights just before training step `step`.

    Step 0 is the initialisation. If training ends before step k is reached,
    the final weights are taken and `reached` stays False so the caller can warn.
    """

    def __init__(self, step: int):
        super().__init__()
        self.step = step
        self.snapshot: list[np.ndarray] | None = None
        self.reached = False
        self._seen = 0

    def on_train_begin(self, logs=None):
        self._seen = 0
        if self.step == 0:
            self._take(reached=True)

    def on_train_batch_begin(self, batch, logs=None):
        if self.snapshot is None and self._seen == self.step:
            self._take(reached=True)
        self._seen += 1

    def on_train_end(self, logs=None):
        if self.snapshot is None:
            self._take(reached=False)

    def _take(self, reached: bool) -> None:
        self.snapshot = [np.array(w, copy=True) for w in self.model.get_weights()]
        self.reached = reached
