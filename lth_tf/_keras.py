"""The one place that arranges TensorFlow and Keras 2 before TensorFlow loads.

tensorflow-model-optimization only works with Keras 2 (the `tf_keras` package).
TF_USE_LEGACY_KERAS=1 must be set before TensorFlow is first imported so that
`tf.keras` (and Spektral's `tensorflow.keras` imports) resolve to tf_keras too.
Every other module imports `tf` and `keras` from here; none sets the variables.

oneDNN: TensorFlow turns its oneDNN kernels on by default only on CPUs with
AVX512_VNNI/AVX512_BF16/AMX, so on AVX2 machines (many AMD servers) they are off.
Measured on a 2-core AVX2 EPYC (benchmarks/speed.py) they train ResNet-18 and
Conv-4 much faster and the GCN and distillation no slower, with the same
accuracy, so lth-tf turns them on. TensorFlow reads TF_ENABLE_ONEDNN_OPTS once,
when it loads (setting it later has no effect), so it is one choice per process:
a value the user exported wins ("0" turns oneDNN off), and if TensorFlow was
imported before lth_tf nothing is changed. `lth_tf.runtime.settings()` reports
what is in force.
"""

from __future__ import annotations

import os
import sys

ONEDNN_VAR = "TF_ENABLE_ONEDNN_OPTS"
# Where the oneDNN choice came from: "environment" (the user set the variable),
# "lth_tf" (our default) or "tensorflow" (TF was imported before us; its own rule).
if ONEDNN_VAR in os.environ:
    ONEDNN_SOURCE = "environment"
elif "tensorflow" in sys.modules:
    ONEDNN_SOURCE = "tensorflow"
else:
    ONEDNN_SOURCE = "lth_tf"
    os.environ[ONEDNN_VAR] = "1"

os.environ["TF_USE_LEGACY_KERAS"] = "1"
# Quiet TF's C++ start-up chatter unless the user asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
import tf_keras as keras

__all__ = ["ONEDNN_SOURCE", "ONEDNN_VAR", "keras", "tf"]
