"""The speed settings of this process: what is in force, and setting the precision and threads.

`speed_settings(onednn, jit_compile, precision)` is what a run records so a
result can be reproduced (the platform adds where it runs and what was chosen
why: `Platform.settings()` is `run_started.runtime`): oneDNN on/off and who chose it
(lth_tf/platform/onednn.py, `onednn_state()`), XLA, the Keras precision policy,
TensorFlow's thread pools, versions and the CPU features that decide which
kernels are fast. `apply_precision(precision)` sets the Keras global policy;
models built afterwards compute in that precision (their variables, masks
included, stay float32). Call it before building the models of a run.
`apply_threads(chosen)` sizes TensorFlow's thread pools before it first runs an op.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from lth_tf.core import config as C
from lth_tf.platform import onednn, speed
from lth_tf.platform.backend import keras, tf

log = logging.getLogger(__name__)


def onednn_enabled() -> bool:
    """Whether TensorFlow's oneDNN kernels are on in this process (decided at TF import)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def onednn_state() -> onednn.State:
    """oneDNN as TensorFlow loaded it in this process: on/off, who chose, the variable's value."""
    return onednn.State(onednn_enabled(), onednn.source(), os.environ.get(onednn.VAR))


def speed_settings(state: onednn.State, jit_compile: bool | None, precision: str | None) -> dict[str, Any]:
    """The speed settings in force, as a JSON-ready dict.

    `jit_compile` and `precision` are the run's config (None: no run);
    `keras_policy` is the global policy actually set, so a mismatch is visible.
    Thread counts of 0 mean TensorFlow's choice (one per core, `cpu_count`).
    """
    return {
        "onednn": state.enabled,
        "onednn_source": state.source,
        onednn.VAR: state.value,
        "jit_compile": jit_compile,
        "precision": precision,
        "keras_policy": keras.mixed_precision.global_policy().name,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "cpu_count": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "tensorflow": tf.__version__,
        "tf_keras": keras.__version__,
        "cpu": speed.Cpu.read().to_dict(),
    }


def apply_precision(precision: str) -> None:
    """Set the Keras global policy ("float32" or "mixed_bfloat16") for models built next."""
    if precision not in C.PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {C.PRECISIONS}")
    keras.mixed_precision.set_global_policy(precision)


def compute_dtype(precision: str) -> str:
    """The dtype layers compute in under `precision` (variables stay float32)."""
    return "bfloat16" if precision == "mixed_bfloat16" else "float32"


def apply_threads(chosen: speed.Settings) -> None:
    """Size TensorFlow's thread pools as `chosen` says (0: TensorFlow's choice).

    A value from the environment is TensorFlow's own to read, so only lth-tf's
    choices are set here; TensorFlow fixes the pools when it first runs an op, so
    a process that ran one already keeps its pools (logged, and recorded as in force).
    """
    setters = (("intra_op_threads", tf.config.threading.get_intra_op_parallelism_threads,
                tf.config.threading.set_intra_op_parallelism_threads),
               ("inter_op_threads", tf.config.threading.get_inter_op_parallelism_threads,
                tf.config.threading.set_inter_op_parallelism_threads))
    for name, get, set_ in setters:
        choice = getattr(chosen, name)
        if choice.source == "user" or not choice.value or get() == choice.value:
            continue
        try:
            set_(int(choice.value))
        except RuntimeError:  # TensorFlow initialised its pools already
            log.warning("%s stays %d: TensorFlow already runs (wanted %d)", name, get(), choice.value)
