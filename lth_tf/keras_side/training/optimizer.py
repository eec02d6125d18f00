"""The optimizer of one training, with its learning-rate schedule."""

from __future__ import annotations

from typing import Any

from lth_tf.core import config as C
from lth_tf.platform.backend import keras


def make_optimizer(t: C.Train, total_steps: int, constant_lr: float | None = None):
    """A fresh optimizer; its schedule spans this round's `total_steps`."""
    lr: Any
    if constant_lr is not None or t.schedule == "constant":
        lr = constant_lr if constant_lr is not None else t.learning_rate
    elif t.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(t.learning_rate, max(1, total_steps))
    else:  # step: x0.1 at 50% and at 75% of training
        b = [max(1, int(total_steps * 0.5)), max(2, int(total_steps * 0.75))]
        lr = keras.optimizers.schedules.PiecewiseConstantDecay(
            b, [t.learning_rate, t.learning_rate * 0.1, t.learning_rate * 0.01]
        )
    if t.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=t.momentum)
    return keras.optimizers.Adam(learning_rate=lr)
