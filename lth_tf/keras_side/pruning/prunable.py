"""Which layers lth_tf prunes, which weights of them, and the mask key of each weight.

A layer is pruned when tfmot can prune at least one of its weights: it is a
`tfmot.sparsity.keras.PrunableLayer` (e.g. our `PrunableGCNConv`), or its exact
class is in tfmot's `PruneRegistry` with a non-empty weight list. What tfmot
0.8.1 prunes (checked in tests/test_prunable.py):

    Dense, Conv1D/2D/3D, Conv2DTranspose/3DTranspose,
    LocallyConnected1D/2D                       kernel
    SeparableConv1D/2D                          pointwise_kernel (not the depthwise one)
    Embedding                                   embeddings
    LSTM, GRU, SimpleRNN (per cell)             kernel, recurrent_kernel
    DepthwiseConv2D, BatchNormalization, ...    nothing (listed by `unpruned_layers`)

MultiHeadAttention is in the registry but tfmot's wrapper cannot build it under
tf_keras 2.21 (it reads `_query_dense` before the layer creates it), so it is
left unpruned. The registry matches exact classes: a subclass of Dense is not
pruned unless it implements PrunableLayer.

Mask keys: the first pruned weight of a layer is keyed by the layer's name, so
every single-kernel layer (all of the registry models) keeps the plain name it
always had; a further weight gets `"<layer>/<weight>"`, e.g. an LSTM's masks are
`lstm` (input kernel) and `lstm/recurrent_kernel`.
"""

from __future__ import annotations

from lth_tf.platform.backend import keras

# After lth_tf.platform.backend, so tfmot sees Keras 2 (tf_keras).
import tensorflow_model_optimization as tfmot  # isort: skip
from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import (  # isort: skip
    PruneRegistry,
)

# Registry classes tfmot lists with weights but cannot wrap (see the module notes).
_BROKEN_IN_TFMOT = (keras.layers.MultiHeadAttention,)


def is_prunable(layer: keras.layers.Layer) -> bool:
    """True if tfmot can prune at least one weight of `layer`."""
    if isinstance(layer, tfmot.sparsity.keras.PrunableLayer):
        return True
    if isinstance(layer, _BROKEN_IN_TFMOT) or not PruneRegistry.supports(layer):
        return False
    if PruneRegistry._is_rnn_layer(layer):  # supports() checked every cell is prunable
        return True
    return bool(PruneRegistry._weight_names(layer))


def mask_keys(layer_name: str, weights: list) -> list[str]:
    """Mask keys of a layer's pruned `weights` (variables), in order.

    The first is the layer name; each further one `layer/<variable's last name
    part>` (with `_<i>` appended if two weights share that part).
    """
    keys = [layer_name]
    for i, weight in enumerate(weights[1:], start=1):
        short = weight.name.split(":")[0].rsplit("/", 1)[-1]
        key = f"{layer_name}/{short}"
        keys.append(key if key not in keys else f"{key}_{i}")
    return keys
