"""Does a translated model compute what the user's model computes?

`sample_batch(model)` is a deterministic batch for the model's inputs (float
inputs from N(0, 1); integer inputs below the smallest Embedding's input_dim,
sequence i ending in i zeros so masks matter; unknown sizes set to 8).
`compare(a, b, x)` runs both models in inference mode: the largest absolute
output difference and the largest |output|. They `agree` when the difference
is at most `atol`, or `atol` times the output scale when outputs are smaller
than 1 (a freshly initialised deep network can output 1e-10, where an absolute
1e-5 would check nothing). `first_difference(reference, other, x, atol)`
compares every layer output both models have, in the reference's order,
relative to that output's largest magnitude, and names the first that differs
by more than `atol`: the layer to blame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lth_tf.keras_side.keras3 import detect
from lth_tf.platform.backend import keras, tf

UNKNOWN_SIZE = 8


def _numpy(x: Any) -> np.ndarray:
    """A tf.Tensor or a Keras 3 backend tensor (jax, torch) as numpy."""
    if isinstance(x, (tf.Tensor, tf.Variable)):
        return np.asarray(x.numpy())
    k3 = detect.loaded_keras3()
    return np.asarray(k3.ops.convert_to_numpy(x) if k3 is not None else x)


def _flat(x: Any) -> list:
    if isinstance(x, dict):
        return [v for _, v in sorted(x.items())]
    if isinstance(x, (list, tuple)):
        return [y for item in x for y in _flat(item)]
    return [x]


def _dtype_name(t: Any) -> str:
    return str(getattr(t.dtype, "name", t.dtype))


def all_layers(model: Any) -> list[Any]:
    """The layers of `model` and of the models nested in it."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found.extend(all_layers(layer))
    return found


def sample_batch(model: Any, batch: int = 4, seed: int = 0) -> list[np.ndarray]:
    """One array per model input: a fixed batch to compare two models on."""
    rng = np.random.default_rng(seed)
    vocab = [int(layer.input_dim) for layer in all_layers(model) if isinstance(getattr(layer, "input_dim", None), int)]
    high = max(2, min(vocab)) if vocab else 2
    arrays = []
    for t in model.inputs:
        shape = (batch, *(UNKNOWN_SIZE if s is None else int(s) for s in tuple(t.shape)[1:]))
        dtype = _dtype_name(t)
        if "int" in dtype:
            ints = rng.integers(1, high, size=shape) if high > 1 else np.zeros(shape, dtype=np.int64)
            if len(shape) == 2:  # sequences: row i ends in i zeros (padding, for masks)
                for i in range(min(batch, shape[1])):
                    ints[i, shape[1] - i :] = 0
            arrays.append(ints.astype(dtype))
        elif dtype == "bool":
            arrays.append(rng.random(shape) < 0.5)
        else:
            arrays.append(rng.standard_normal(shape).astype(dtype))
    return arrays


def outputs(model: Any, x: list[np.ndarray]) -> list[np.ndarray]:
    """The model's outputs on `x` in inference mode, as numpy arrays."""
    return [_numpy(y).astype(np.float64) for y in _flat(model(x if len(x) > 1 else x[0], training=False))]


def agree(difference: float, scale: float, atol: float) -> bool:
    """`atol` for outputs of magnitude 1 or more; relative to `scale` below (tiny outputs)."""
    return difference <= atol * min(1.0, scale)


def compare(reference: Any, other: Any, x: list[np.ndarray]) -> tuple[float, float]:
    """(largest absolute output difference, largest |output| of `reference`) on `x`."""
    ya, yb = outputs(reference, x), outputs(other, x)
    if len(ya) != len(yb) or any(p.shape != q.shape for p, q in zip(ya, yb)):
        return float("inf"), 0.0
    diff = max((float(np.max(np.abs(p - q))) if p.size else 0.0) for p, q in zip(ya, yb))
    scale = max((float(np.max(np.abs(p))) if p.size else 0.0) for p in ya)
    return diff, scale


def _layer_outputs(model: Any, names: list[str]) -> tuple[Any, list[str]]:
    """A model giving the outputs of the named layers (single-output, single-call ones)."""
    kept, tensors = [], []
    for name in names:
        layer = model.get_layer(name)
        try:
            out = layer.output
        except (AttributeError, ValueError, RuntimeError):
            continue  # a layer called more than once has no single output
        if isinstance(out, (list, tuple, dict)):
            continue
        kept.append(name)
        tensors.append(out)
    if not tensors:
        return None, []
    inputs = model.inputs if len(model.inputs) > 1 else model.inputs[0]
    return _model_class(model)(inputs, tensors), kept


def _model_class(model: Any) -> Any:
    k3 = detect.loaded_keras3()
    return k3.Model if k3 is not None and isinstance(model, k3.Model) else keras.Model


def first_difference(reference: Any, other: Any, x: list[np.ndarray], atol: float) -> tuple[str, str, float] | None:
    """(layer name, class name, difference) of the first differing layer output, or None."""
    theirs = {layer.name for layer in other.layers}
    names = [layer.name for layer in reference.layers if layer.name in theirs and layer not in _input_layers(reference)]
    ref_probe, kept = _layer_outputs(reference, names)
    if ref_probe is None:
        return None
    other_probe, kept_other = _layer_outputs(other, kept)
    if other_probe is None or kept_other != kept:
        return None
    for name, p, q in zip(kept, outputs(ref_probe, x), outputs(other_probe, x)):
        if p.shape != q.shape:
            return name, type(reference.get_layer(name)).__name__, float("inf")
        diff = float(np.max(np.abs(p - q))) if p.size else 0.0
        if diff > atol * (float(np.max(np.abs(p))) if p.size else 0.0):  # relative: activations vary in scale
            return name, type(reference.get_layer(name)).__name__, diff
    return None


def _input_layers(model: Any) -> list[Any]:
    return [layer for layer in model.layers if type(layer).__name__ == "InputLayer"]
