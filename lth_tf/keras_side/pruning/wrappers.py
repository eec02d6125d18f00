"""Finding tfmot's pruning wrappers in a model, and the variables they hold.

A wrapper is named `prune_low_magnitude_<name>`; its `.layer.name` is `<name>`,
the ORIGINAL layer name that keys masks (see `lth_tf.keras_side.pruning`).
"""

from __future__ import annotations

from typing import Any

from lth_tf.keras_side.pruning.prunable import is_prunable, mask_keys
from lth_tf.platform.backend import keras

# After lth_tf.platform.backend, so tfmot sees Keras 2 (tf_keras).
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import (  # isort: skip
    PruneLowMagnitude,
)


def prunable_layer_names(model: keras.Model) -> list[str]:
    """Names of the prunable layers of `model`, in model order.

    On a wrapped model this lists the original names of the wrapped layers and
    of the prunable layers left unwrapped (excluded ones).
    """
    names = []
    for layer in model.layers:
        if isinstance(layer, PruneLowMagnitude):
            names.append(layer.layer.name)
        elif is_prunable(layer):
            names.append(layer.name)
    return names


def wrappers(model: keras.Model) -> list[PruneLowMagnitude]:
    """The pruning wrappers of `model`, also inside nested models (e.g. a Distiller)."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += wrappers(layer)
        elif isinstance(layer, PruneLowMagnitude):
            found.append(layer)
    return found


def original_name(layer: keras.layers.Layer) -> str:
    """The wrapped layer's own name for a wrapper, else the layer's name."""
    return layer.layer.name if isinstance(layer, PruneLowMagnitude) else layer.name


def pruned_variables(wrapped: keras.Model) -> dict[str, tuple[Any, Any]]:
    """{mask key: (kernel variable, mask variable)} of every wrapper of `wrapped`."""
    found: dict[str, tuple[Any, Any]] = {}
    for w in wrappers(wrapped):
        kernels = [weight for weight, _mask, _threshold in w.pruning_vars]
        for key, (weight, mask, _threshold) in zip(
            mask_keys(w.layer.name, kernels), w.pruning_vars, strict=True
        ):
            if key in found:
                raise ValueError(f"two pruned weights are keyed '{key}'; layer names must be unique")
            found[key] = (weight, mask)
    if not found:
        raise ValueError(f"model '{wrapped.name}' has no pruning wrappers; call wrap(model) first")
    return found


def unpruned_layers(model: keras.Model, exclude: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(name, class name) of each layer that holds weights but is not pruned.

    Counts layers tfmot cannot prune (BatchNormalization, DepthwiseConv2D, ...)
    and prunable layers named in `exclude`. Works on a plain or a wrapped model
    (a wrapped layer is pruned, an unwrapped one in a wrapped model is not).
    """
    wrapped = any(isinstance(layer, PruneLowMagnitude) for layer in model.layers)
    found = []
    for layer in model.layers:
        if isinstance(layer, PruneLowMagnitude) or not layer.weights:
            continue
        if wrapped or not is_prunable(layer) or layer.name in exclude:
            found.append((layer.name, layer.__class__.__name__))
    return found
