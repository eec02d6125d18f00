"""tfmot glue: wrap a model for fixed-mask training, read and write masks, strip.

This module wraps and strips; it also gives the glue's whole API in one place
(`wrap.get_masks`, `wrap.callbacks()`, ...), whose parts live in
`pruning/wrappers.py` (finding wrappers and their variables),
`pruning/mask_vars.py` (reading and writing masks and kernels) and
`pruning/mask_enforcer.py` (the callbacks `fit` needs).

The lottery search computes masks itself (`lth_tf.core.masks`) and only uses
tfmot to hold them during training: every layer tfmot can prune (see
`lth_tf.keras_side.pruning.prunable`: Dense, the convolutions, Embedding, RNNs, and any
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
from lth_tf.keras_side.pruning import wrap

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

from lth_tf.core.errors import LthError
from lth_tf.core.masks.counts import Masks
from lth_tf.keras_side.pruning.mask_enforcer import MaskEnforcer, callbacks
from lth_tf.keras_side.pruning.mask_vars import (
    apply_masks,
    get_kernels,
    get_masks,
    set_kernels,
    set_masks,
)
from lth_tf.keras_side.pruning.wrappers import (
    PruneLowMagnitude,
    original_name,
    prunable_layer_names,
    unpruned_layers,
    wrappers,
)
from lth_tf.platform.backend import keras

# After lth_tf.platform.backend, so tfmot sees Keras 2 (tf_keras).
import tensorflow_model_optimization as tfmot  # isort: skip

__all__ = [
    "NEVER", "MaskEnforcer", "Masks", "apply_masks", "callbacks", "custom_objects", "get_kernels",
    "get_masks", "never_prune", "prunable_layer_names", "set_kernels", "set_masks", "strip",
    "unpruned_layers", "wrap", "wrappers",
]

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


def _fresh(layer: keras.layers.Layer) -> keras.layers.Layer:
    return layer.__class__.from_config(layer.get_config())


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
            return prune(_fresh(layer), pruning_schedule=never_prune())
        return _fresh(layer)

    wrapped = keras.models.clone_model(model, clone_function=clone)
    clones = {original_name(layer): layer for layer in wrapped.layers}
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
    sources = {original_name(layer): layer for layer in wrapped.layers}
    for layer in plain.layers:
        if layer.weights:
            layer.set_weights(sources[layer.name].get_weights())
    return plain


def custom_objects() -> dict[str, Any]:
    """Classes Keras needs to load a saved wrapped model (imports Spektral)."""
    from lth_tf.keras_side.models import custom_objects as model_objects

    return {"PruneLowMagnitude": PruneLowMagnitude, **model_objects()}
