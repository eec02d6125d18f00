"""Reading and writing the masks and kernels a wrapped model holds in its variables.

Keys are mask keys: the original layer name for a layer's first pruned weight,
`<name>/<weight>` for its later ones. Every write keeps the invariant "pruned
weights are exactly 0.0".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lth_tf.core.errors import LthError
from lth_tf.core.masks.counts import Masks
from lth_tf.keras_side.pruning.wrappers import pruned_variables, wrappers
from lth_tf.platform.backend import keras


def get_masks(wrapped: keras.Model) -> Masks:
    """{mask key: 0/1 float32 mask} of every pruned weight (key = layer name for the first)."""
    return {key: mask.numpy().astype(np.float32) for key, (_w, mask) in pruned_variables(wrapped).items()}


def set_masks(wrapped: keras.Model, masks: Masks) -> None:
    """Assign masks and zero the pruned kernel entries at once.

    `masks` may cover only some weights; the others keep their masks.
    """
    slots = pruned_variables(wrapped)
    checked = {key: _check_mask(key, m, slots) for key, m in masks.items()}
    for key, m in checked.items():
        weight, mask = slots[key]
        mask.assign(m)
        weight.assign(weight * m)


def _check_mask(key: str, m: Any, slots: dict[str, tuple[Any, Any]]) -> np.ndarray:
    if key not in slots:
        raise LthError(
            f"mask for layer '{key}', but the model prunes no such layer; "
            f"pruned layers are {', '.join(slots)} (was the checkpoint made with another model?)"
        )
    m = np.asarray(m, dtype=np.float32)
    shape = tuple(slots[key][1].shape)
    if m.shape != shape:
        raise LthError(
            f"mask for layer '{key}' has shape {m.shape}, the kernel has {shape}; "
            "the masks belong to another model or width"
        )
    if not np.all((m == 0.0) | (m == 1.0)):
        raise LthError(f"mask for layer '{key}' holds values other than 0 and 1; use a 0/1 mask")
    return m


def get_kernels(wrapped: keras.Model) -> dict[str, np.ndarray]:
    """{mask key: kernel} of every pruned weight, as numpy copies.

    Call `apply_masks` first when reading mid-training (see `lth_tf.keras_side.pruning`).
    """
    return {key: weight.numpy() for key, (weight, _m) in pruned_variables(wrapped).items()}


def set_kernels(wrapped: keras.Model, kernels: dict[str, np.ndarray]) -> None:
    """Assign pruned kernels by mask key, then re-apply each one's mask.

    The masking keeps the invariant "pruned weights are 0.0" whatever the order
    of `set_kernels` and `set_masks` (e.g. when rewinding to initial weights).
    """
    slots = pruned_variables(wrapped)
    for key, k in kernels.items():
        if key not in slots:
            raise LthError(f"kernel for layer '{key}', but the model prunes no such layer; "
                           f"pruned layers are {', '.join(slots)}")
        weight, mask = slots[key]
        k = np.asarray(k, dtype=weight.dtype.as_numpy_dtype)
        if k.shape != tuple(weight.shape):
            raise LthError(f"kernel for layer '{key}' has shape {k.shape}, the model has "
                           f"{tuple(weight.shape)}; the weights belong to another model or width")
        weight.assign(k * mask.numpy())


def apply_masks(model: keras.Model) -> None:
    """kernel *= mask in every wrapper of `model` (also nested, e.g. in a Distiller)."""
    for w in wrappers(model):
        for weight, mask, _threshold in w.pruning_vars:
            weight.assign(weight * mask)
