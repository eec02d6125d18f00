"""Wrapping a model for fixed-mask training, and stripping it again (see the package's
docstring, `lth_tf/keras_side/pruning/__init__.py`, for what tfmot does with a mask)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lth_tf.core.errors import LthError
from lth_tf.keras_side import clone as cloning
from lth_tf.keras_side.pruning.mask_op import float32_masking
from lth_tf.keras_side.pruning.mask_vars import apply_masks
from lth_tf.keras_side.pruning.wrappers import (
    PruneLowMagnitude,
    original_name,
    prunable_layer_names,
)
from lth_tf.platform.backend import keras

# After lth_tf.platform.backend, so tfmot sees Keras 2 (tf_keras).
import tensorflow_model_optimization as tfmot  # isort: skip

# A begin step no run reaches: the schedule never fires, so tfmot never
# recomputes a mask and the masks we assign persist.
NEVER = 2**62


def never_prune() -> tfmot.sparsity.keras.PruningSchedule:
    """A pruning schedule that never updates a mask.

    A built-in ConstantSparsity (not a custom class) so wrapped models save and
    load with only `tfmot.sparsity.keras.prune_scope()`.
    """
    return tfmot.sparsity.keras.ConstantSparsity(0.0, begin_step=NEVER, frequency=1)


# -- wrapping and stripping ----------------------------------------------------------


def wrap(model: keras.Model, exclude: Iterable[str] = ()) -> keras.Model:
    """A copy of `model` with each prunable layer in a never-firing tfmot wrapper.

    The copy has its own variables, starts with the original weights (so it
    computes the same function) and all-ones masks.

    Args:
        model: a flat functional model, e.g. from `lth_tf.keras_side.models.build`.
        exclude: names of prunable layers to leave unwrapped (never pruned).

    Returns:
        The wrapped, uncompiled model. Train it with `callbacks()`.
    """
    exclude = tuple(exclude)
    names = prunable_layer_names(model)
    for name in exclude:
        if name not in names:
            raise LthError(
                f"prune.exclude: '{name}' is not a prunable layer of model '{model.name}'; "
                f"prunable layers are {', '.join(names)}"
            )
    if any(isinstance(layer, PruneLowMagnitude) for layer in model.layers):
        raise ValueError(f"model '{model.name}' is already wrapped; wrap the plain model")
    if any(isinstance(layer, keras.Model) for layer in model.layers):
        raise ValueError(f"model '{model.name}' nests models; wrap() takes flat functional models")
    targets = set(names) - set(exclude)

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if layer.name in targets:
            prune = tfmot.sparsity.keras.prune_low_magnitude
            return prune(cloning.fresh(layer), pruning_schedule=never_prune())
        return cloning.fresh(layer)

    wrapped = keras.models.clone_model(model, clone_function=clone)
    clones = {original_name(layer): layer for layer in wrapped.layers}
    for layer in wrapped.layers:
        if isinstance(layer, PruneLowMagnitude):
            float32_masking(layer)  # mixed precision: mask the float32 weights, not bfloat16 copies
    for layer in model.layers:
        if layer.weights:
            # A wrapper's set_weights sets the inner layer's weights only; its
            # mask (ones) and threshold keep their initial values.
            clones[layer.name].set_weights(layer.get_weights())
    return wrapped


def strip(wrapped: keras.Model) -> keras.Model:
    """A plain model (no wrappers, original layer names) with the masked weights.

    Pruned weights are exactly 0.0. Unlike tfmot's `strip_pruning`, the result
    has its own variables: training `wrapped` later does not change it.
    """
    apply_masks(wrapped)

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        return cloning.fresh(layer.layer if isinstance(layer, PruneLowMagnitude) else layer)

    plain = keras.models.clone_model(wrapped, clone_function=clone)
    sources = {original_name(layer): layer for layer in wrapped.layers}
    for layer in plain.layers:
        if layer.weights:
            layer.set_weights(sources[layer.name].get_weights())
    return plain


def custom_objects() -> dict[str, Any]:
    """The class Keras needs to load a saved wrapped model, besides the model's own
    (`lth_tf.keras_side.models.custom_objects()`; pruning never imports the models)."""
    return {"PruneLowMagnitude": PruneLowMagnitude}
