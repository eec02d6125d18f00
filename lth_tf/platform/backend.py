"""The one place that arranges TensorFlow and Keras 2 before TensorFlow loads.

tensorflow-model-optimization only works with Keras 2 (the `tf_keras` package).
TF_USE_LEGACY_KERAS=1 must be set before TensorFlow is first imported so that
`tf.keras` (and Spektral's `tensorflow.keras` imports) resolve to tf_keras too.
Every other module imports `tf` and `keras` from here; none sets the variables.
`keras3()` imports Keras 3 (the `keras` package) for a user's Keras 3 model.
TensorFlow fixes what `tf.keras` is on its first use: a program that used `tf.keras`
before importing lth_tf has Keras 3 there, which lth_tf's translation copes with but
Spektral (graph models) does not (`check_spektral_keras`).

oneDNN is chosen here too, before TensorFlow loads (see lth_tf/platform/onednn.py): on,
unless the user set TF_ENABLE_ONEDNN_OPTS or a caller already chose for graph data.
`Platform.settings()` (lth_tf/platform/platform.py) reports what is in force.
"""

from __future__ import annotations

import os

from lth_tf.core.errors import LthError
from lth_tf.platform import onednn

onednn.choose()
os.environ["TF_USE_LEGACY_KERAS"] = "1"
# Quiet TF's C++ start-up chatter unless the user asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
import tf_keras as keras

__all__ = ["check_spektral_keras", "keras", "keras3", "tf", "tf_keras_is_keras2"]


def keras3():  # the module `keras`, version 3
    """Keras 3 (the `keras` package), imported on first use.

    Only for a user's Keras 3 model (lth_tf.keras_side.keras3); lth_tf itself trains
    tf_keras. Importing it here keeps TF_USE_LEGACY_KERAS set before anything loads TF.
    """
    import keras as keras_3

    return keras_3


def tf_keras_is_keras2() -> bool:
    """True when `tf.keras` (and so Spektral's `tensorflow.keras`) is tf_keras in this process.

    False when the program used `tf.keras` before importing lth_tf: TensorFlow then
    resolved it to Keras 3 already, and TF_USE_LEGACY_KERAS set here came too late.
    """
    return tf.keras.Model is keras.Model


def check_spektral_keras() -> None:
    """LthError unless Spektral will build its layers on tf_keras (graph data and models)."""
    if not tf_keras_is_keras2():
        raise LthError(
            "graph models need Spektral on tf_keras, but tf.keras was already Keras 3 when lth_tf "
            "was imported; import lth_tf before using tf.keras (or set TF_USE_LEGACY_KERAS=1 before "
            "importing TensorFlow)"
        )
