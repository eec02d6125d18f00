"""The speed settings of this process: what is in force, and setting the precision.

`speed_settings(onednn, jit_compile, precision)` is what a run records so a
result can be reproduced (the platform adds where it runs: `Platform.settings()`
is `run_started.runtime`): oneDNN on/off and who chose it
(lth_tf/platform/onednn.py, `onednn_state()`), XLA, the Keras precision policy,
TensorFlow's thread pools, versions and the CPU features that decide which
kernels are fast. `apply_precision(precision)` sets the Keras global policy;
models built afterwards compute in that precision (their variables, masks
included, stay float32). Call it before building the models of a run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lth_tf.core import config as C
from lth_tf.platform import onednn
from lth_tf.platform.backend import keras, tf

# CPU flags (as /proc/cpuinfo spells them) that decide the fast paths: oneDNN's
# bfloat16 matmuls need avx512_bf16 or AMX; without them bfloat16 is emulated.
SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16")


def cpu_info(cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, Any]:
    """The CPU model name and which of SPEED_FLAGS it has ({} fields empty off Linux)."""
    model, flags = "", set()
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return {"model": model, "flags": [f for f in SPEED_FLAGS if f in flags]}


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
        "cpu": cpu_info(),
    }


def apply_precision(precision: str) -> None:
    """Set the Keras global policy ("float32" or "mixed_bfloat16") for models built next."""
    if precision not in C.PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {C.PRECISIONS}")
    keras.mixed_precision.set_global_policy(precision)


def compute_dtype(precision: str) -> str:
    """The dtype layers compute in under `precision` (variables stay float32)."""
    return "bfloat16" if precision == "mixed_bfloat16" else "float32"
