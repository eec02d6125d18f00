"""Weights copied between a Keras 3 model and its tf_keras translation, layer by layer.

Layers are matched by name (the translation keeps every name). Within a layer
the weights go in order, which both Kerases share for every built-in layer
(kernel, bias; gamma, beta, moving mean, moving variance; an LSTM's kernel,
recurrent kernel, bias; ...). When the counts differ, weights are matched by
their last name (`.../mean`); a weight left without a partner is an LthError
naming the layer. Values are copied exactly (float32 to float32), so a pruned
weight that is 0 stays exactly 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lth_tf.core.errors import LthError
from lth_tf.keras_side.keras3 import detect


def short_name(variable: Any) -> str:
    """`kernel` for 'dense/kernel:0' (tf_keras) and 'dense/kernel' (Keras 3)."""
    name = getattr(variable, "path", None) or variable.name
    return name.split("/")[-1].split(":")[0]


def layers_with_weights(model: Any) -> dict[str, Any]:
    """{name: layer} of every layer holding weights (nested models are walked)."""
    found: dict[str, Any] = {}
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.weights and not _has_own_weights(layer):
            found.update(layers_with_weights(layer))
        elif layer.weights:
            found[layer.name] = layer
    return found


def _has_own_weights(layer: Any) -> bool:
    inner = {id(w) for sub in layer.layers for w in sub.weights}
    return any(id(w) not in inner for w in layer.weights)


def pairs(source_layer: Any, target_layer: Any) -> list[tuple[Any, Any]]:
    """[(source weight, target weight)] for two namesake layers, or LthError."""
    src, dst = list(source_layer.weights), list(target_layer.weights)
    if len(src) == len(dst) and all(tuple(a.shape) == tuple(b.shape) for a, b in zip(src, dst)):
        return list(zip(src, dst))
    by_name = {short_name(w): w for w in src}
    matched = [(by_name.get(short_name(w)), w) for w in dst]
    missing = [short_name(w) for s, w in matched if s is None or tuple(s.shape) != tuple(w.shape)]
    if missing or len(by_name) != len(src):
        raise LthError(
            f"layer '{target_layer.name}' holds weights {[short_name(w) for w in dst]}, its source "
            f"{[short_name(w) for w in src]}; the two Kerases build this layer differently, "
            "so it cannot be translated (replace the layer)"
        )
    return matched


def copy(source: Any, target: Any, strict: bool = True) -> list[str]:
    """Copy every weight of `source`'s layers into `target`'s namesakes; the names copied.

    With `strict`, a `target` layer with weights and no namesake in `source` is
    an LthError; otherwise it keeps its weights.
    """
    src_layers, dst_layers = layers_with_weights(source), layers_with_weights(target)
    copied = []
    for name, dst in dst_layers.items():
        src = src_layers.get(name)
        if src is None:
            if strict:
                raise LthError(
                    f"layer '{name}' has weights in the target model and no namesake in the source; "
                    "give a model of the same architecture (a pruned model must be stripped first)"
                )
            continue
        for s, d in pairs(src, dst):
            d.assign(value(s).astype(_dtype(d), copy=False))
        copied.append(name)
    return copied


def value(variable: Any) -> np.ndarray:
    """A tf_keras or Keras 3 variable's value (any Keras 3 backend: jax, torch, ...)."""
    k3 = detect.loaded_keras3()
    if k3 is not None and isinstance(variable, k3.Variable):
        return np.asarray(k3.ops.convert_to_numpy(variable))
    return np.asarray(variable.numpy())


def _dtype(variable: Any) -> str:
    """'float32' for a tf.Variable (a tf.DType) and a Keras 3 Variable (a string)."""
    return str(getattr(variable.dtype, "name", variable.dtype))
