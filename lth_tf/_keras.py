"""The one place that arranges Keras 2 for tfmot.

tensorflow-model-optimization only works with Keras 2 (the `tf_keras` package).
TF_USE_LEGACY_KERAS=1 must be set before TensorFlow is first imported so that
`tf.keras` (and Spektral's `tensorflow.keras` imports) resolve to tf_keras too.
Every other module imports `tf` and `keras` from here; none sets the variable.
"""

from __future__ import annotations

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
# Quiet TF's C++ start-up chatter unless the user asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
import tf_keras as keras

__all__ = ["keras", "tf"]
