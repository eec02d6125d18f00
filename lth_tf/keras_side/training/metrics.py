"""The loss and the accuracy metric (`acc`) models are compiled with, and `evaluate`."""

from __future__ import annotations

import math

from lth_tf.platform.backend import keras, tf
from lth_tf.platform.platform import Platform


def float32_sparse_ce(y_true, logits):
    """Cross-entropy from logits, computed in float32 whatever the logits' dtype.

    Under mixed_bfloat16 the model outputs bfloat16 logits; the softmax and log
    of the loss need float32 (for float32 logits the cast is a no-op).
    """
    return keras.losses.sparse_categorical_crossentropy(
        y_true, tf.cast(logits, tf.float32), from_logits=True
    )


def compile_plain(model, optimizer, jit_compile: bool = False) -> None:
    model.compile(
        optimizer=optimizer,
        loss=float32_sparse_ce,  # Keras wraps it like SparseCategoricalCrossentropy
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
        jit_compile=jit_compile,
    )


def evaluate(model, data, platform: Platform) -> tuple[float, float]:
    """(loss, accuracy) of a compiled model on a dataset or one full batch (a step of `platform`)."""
    if isinstance(data, tuple):  # full batch ((x, a), y, w)
        for m in model.metrics:
            m.reset_state()
        out = {k: float(v) for k, v in platform.run_step(model, model.test_step, data).items()}
    else:
        out = model.evaluate(data, verbose=0, return_dict=True)
    loss, acc = float(out["loss"]), float(out["acc"])
    return (loss if math.isfinite(loss) else float("nan")), acc
