"""The tfmot glue: wrap a model for fixed-mask training, read and write masks, strip.

This package is its public face: callers import it (`from lth_tf.keras_side import
pruning as P`) and use the names in `__all__`, whose homes are
`wrapping.py` (wrap, strip), `wrappers.py` (finding wrappers and their variables),
`mask_vars.py` (reading and writing masks and kernels), `mask_enforcer.py` (the
callbacks `fit` needs), `prunable.py` (which layers tfmot prunes),
`channel_graph.py` (the channel plan of structured pruning), `rewind.py` (the rewind
snapshot) and `early_stop.py` (early-bird's callback). Importing it imports
TensorFlow: the CLI's checks before TensorFlow loads and the pure layers never do.

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
from lth_tf.keras_side import pruning as P

wrapped = P.wrap(model, exclude=("output",))
wrapped.compile(optimizer="adam", loss=loss)
P.set_masks(wrapped, masks)                 # {layer name: 0/1 float32 array}
wrapped.fit(ds, epochs=3, callbacks=P.callbacks())
ticket = P.strip(wrapped)                   # plain model, pruned weights exactly 0.0
```
"""

from lth_tf.keras_side.pruning.channel_graph import (
    channel_plan,
    prunable_channels,
    unpruned_channels,
)
from lth_tf.keras_side.pruning.early_stop import EarlyBirdStop
from lth_tf.keras_side.pruning.mask_enforcer import MaskEnforcer, callbacks
from lth_tf.keras_side.pruning.mask_vars import (
    apply_masks,
    get_kernels,
    get_masks,
    set_kernels,
    set_masks,
)
from lth_tf.keras_side.pruning.prunable import is_prunable
from lth_tf.keras_side.pruning.rewind import RewindCallback
from lth_tf.keras_side.pruning.wrappers import (
    PruneLowMagnitude,
    original_name,
    prunable_layer_names,
    pruned_variables,
    unpruned_layers,
    wrappers,
)
from lth_tf.keras_side.pruning.wrapping import NEVER, custom_objects, never_prune, strip, wrap

__all__ = [
    "NEVER",
    "EarlyBirdStop",
    "MaskEnforcer",
    "PruneLowMagnitude",
    "RewindCallback",
    "apply_masks",
    "callbacks",
    "channel_plan",
    "custom_objects",
    "get_kernels",
    "get_masks",
    "is_prunable",
    "never_prune",
    "original_name",
    "prunable_channels",
    "prunable_layer_names",
    "pruned_variables",
    "set_kernels",
    "set_masks",
    "strip",
    "unpruned_channels",
    "unpruned_layers",
    "wrap",
    "wrappers",
]
