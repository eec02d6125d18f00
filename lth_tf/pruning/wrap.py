"""tfmot glue: wrap a model for fixed-mask training, read and write masks, strip.

The lottery search computes masks itself (`lth_tf.pruning.masks`) and only uses
tfmot to hold them during training: every layer tfmot can prune (see
`lth_tf.pruning.prunable`: Dense, the convolutions, Embedding, RNNs, and any
`PrunableLayer` such as our `PrunableGCNConv`) goes into a `PruneLowMagnitude`
wrapper whose pruning schedule never fires, so tfmot never recomputes a mask.
Biases and BatchNorm are never pruned: the wrappers expose only kernels. Masks
are float32 0/1 arrays with the kernel's shape, keyed by the ORIGINAL layer
name (a wrapper is named `prune_low_magnitude_<name>`; its `.layer.name` is
`<name>`), and `<name>/<weight>` for a layer's second and later pruned weights.

What tfmot does with a mask (verified on tfmot 0.8.1 / tf_keras 2.21, see
tests/test_wrap.py):

- Every forward pass of a wrapper, in training AND inference (`fit`,
  `evaluate`, `predict`, a plain `model(x)` call, eager or in a tf.function),
  first assigns `kernel = kernel * mask`, then runs the layer. So the network
  always computes with masked weights, and the kernel variable reads masked
  after any forward pass.
- The optimizer step runs AFTER that forward pass and updates pruned entries
  too (their gradient is generally not zero), so between an optimizer step and
  the next forward pass pruned kernel entries are small non-zero numbers. They
  never reach an output (the next forward pass zeroes them first), but anything
  that reads the kernel mid-training (a checkpoint, a rewind snapshot in
  `on_train_batch_end`) must call `apply_masks` first.
- `UpdatePruningStep.on_epoch_end` re-applies the masks, so after `fit` the
  kernels are masked again; `MaskEnforcer` also does it at the start and end of
  training, so a `fit` stopped mid-epoch or started from unmasked kernels is
  covered too. A callback listed BEFORE them sees unmasked kernels in its own
  `on_epoch_end`: put `callbacks()` first.
- The schedule here (ConstantSparsity with begin_step 2**62) never fires: masks
  are bit-for-bit unchanged by training, however many steps.
- Training a wrapped model without `UpdatePruningStep` fails with tfmot's
  "Prune() wrapper requires the UpdatePruningStep callback" assertion.
- `tfmot.sparsity.keras.strip_pruning` returns a model that SHARES its layer
  objects (and so its variables) with the wrapped model; training the wrapped
  model afterwards silently changes the stripped one. `strip` here returns an
  independent copy.
- The wrapped model's `get_weights`/`set_weights`/`count_params` include each
  wrapper's mask, threshold and pruning_step (a wrapper's OWN get_weights does
  not); `set_weights` on the model therefore restores masks too.

Example:

```python
from lth_tf.pruning import wrap

wrapped = wrap.wrap(model, exclude=("output",))
wrapped.compile(optimizer="adam", loss=loss)
wrap.set_masks(wrapped, masks)              # {layer name: 0/1 float32 array}
wrapped.fit(ds, epochs=3, callbacks=wrap.callbacks())
ticket = wrap.strip(wrapped)                # plain model, pruned weights exactly 0.0
```
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from lth_tf._keras import keras
from lth_tf.errors import LthError
from lth_tf.pruning.prunable import is_prunable, mask_keys, unpruned_layers  # noqa: F401 (re-export)

# After lth_tf._keras, so tfmot sees Keras 2 (tf_keras).
import tensorflow_model_optimization as tfmot  # isort: skip
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import (  # isort: skip
    PruneLowMagnitude,
)

# A begin step no run reaches: the schedule never fires, so tfmot never
# recomputes a mask and the masks we assign persist.
NEVER = 2**62

Masks = dict[str, np.ndarray]


def never_prune() -> tfmot.sparsity.keras.PruningSchedule:
    """A pruning schedule that never updates a mask.

    A built-in ConstantSparsity (not a custom class) so wrapped models save and
    load with only `tfmot.sparsity.keras.prune_scope()`.
    """
    return tfmot.sparsity.keras.ConstantSparsity(0.0, begin_step=NEVER, frequency=1)


# -- finding layers --------------------------------------------------------------


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


def _slots(wrapped: keras.Model) -> dict[str, tuple[Any, Any]]:
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


# -- wrapping and stripping ----------------------------------------------------------


def _fresh(layer: keras.layers.Layer) -> keras.layers.Layer:
    return layer.__class__.from_config(layer.get_config())


def wrap(model: keras.Model, exclude: Iterable[str] = ()) -> keras.Model:
    """A copy of `model` with each prunable layer in a never-firing tfmot wrapper.

    The copy has its own variables, starts with the original weights (so it
    computes the same function) and all-ones masks.

    Args:
        model: a flat functional model, e.g. from `lth_tf.models.build`.
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
            return prune(_fresh(layer), pruning_schedule=never_prune())
        return _fresh(layer)

    wrapped = keras.models.clone_model(model, clone_function=clone)
    clones = {_original_name(layer): layer for layer in wrapped.layers}
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
        return _fresh(layer.layer if isinstance(layer, PruneLowMagnitude) else layer)

    plain = keras.models.clone_model(wrapped, clone_function=clone)
    sources = {_original_name(layer): layer for layer in wrapped.layers}
    for layer in plain.layers:
        if layer.weights:
            layer.set_weights(sources[layer.name].get_weights())
    return plain


def _original_name(layer: keras.layers.Layer) -> str:
    return layer.layer.name if isinstance(layer, PruneLowMagnitude) else layer.name


# -- masks and kernels -----------------------------------------------------------------


def get_masks(wrapped: keras.Model) -> Masks:
    """{mask key: 0/1 float32 mask} of every pruned weight (key = layer name for the first)."""
    return {key: mask.numpy().astype(np.float32) for key, (_w, mask) in _slots(wrapped).items()}


def set_masks(wrapped: keras.Model, masks: Masks) -> None:
    """Assign masks and zero the pruned kernel entries at once.

    `masks` may cover only some weights; the others keep their masks.
    """
    slots = _slots(wrapped)
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

    Call `apply_masks` first when reading mid-training (see the module notes).
    """
    return {key: weight.numpy() for key, (weight, _m) in _slots(wrapped).items()}


def set_kernels(wrapped: keras.Model, kernels: dict[str, np.ndarray]) -> None:
    """Assign pruned kernels by mask key, then re-apply each one's mask.

    The masking keeps the invariant "pruned weights are 0.0" whatever the order
    of `set_kernels` and `set_masks` (e.g. when rewinding to initial weights).
    """
    slots = _slots(wrapped)
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


# -- training ----------------------------------------------------------------------------


class MaskEnforcer(keras.callbacks.Callback):
    """Re-applies the masks when training starts, after each epoch and when it ends.

    With it, pruned weights are exactly 0.0 whenever `fit` hands control back,
    even if training stopped mid-epoch or began from unmasked kernels.
    """

    def on_train_begin(self, logs: dict | None = None) -> None:
        apply_masks(self.model)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        apply_masks(self.model)

    def on_train_end(self, logs: dict | None = None) -> None:
        apply_masks(self.model)


def callbacks() -> list[keras.callbacks.Callback]:
    """Callbacks every `fit` of a wrapped model needs: tfmot's step counter and masks."""
    return [tfmot.sparsity.keras.UpdatePruningStep(), MaskEnforcer()]


def custom_objects() -> dict[str, Any]:
    """Classes Keras needs to load a saved wrapped model (imports Spektral)."""
    from lth_tf.models import custom_objects as model_objects

    return {"PruneLowMagnitude": PruneLowMagnitude, **model_objects()}
