"""Mask math: pure numpy, no TensorFlow.

Masks are ``dict[key, np.ndarray]`` of float32 0/1 arrays shaped like the pruned
weight (1 = kept), keyed by the original layer name (a layer's second and later
pruned weights by ``"<layer>/<weight>"``). Callers use the package:

    from lth_tf.core import masks as M
    M.prune(kernels, masks, rate=0.2, scope="global")

Modules: `magnitude` (magnitude pruning: `prune`, `prune_to_sparsity`),
`counts` (counts, sparsity, rates), `digest` (`mask_digest`), `selection` (pruning groups, the tie-broken
smallest-k), `random_masks` (the random-mask control), `channels` (whole
channels: the structured rule and its `ChannelPlan`), `early_bird` (the mask
distance early-bird rounds watch). `channels` and `early_bird` are imported as
modules (`from lth_tf.core.masks import channels as CH`).
"""

from lth_tf.core.masks.counts import (
    Masks,
    Weights,
    count,
    layer_sparsity,
    ones_like,
    prune_count,
    rate_for,
    sparsity,
)
from lth_tf.core.masks.digest import mask_digest
from lth_tf.core.masks.magnitude import prune, prune_to_sparsity
from lth_tf.core.masks.random_masks import random_masks
from lth_tf.core.masks.selection import SCOPES

__all__ = [
    "SCOPES",
    "Masks",
    "Weights",
    "count",
    "layer_sparsity",
    "mask_digest",
    "ones_like",
    "prune",
    "prune_count",
    "prune_to_sparsity",
    "random_masks",
    "rate_for",
    "sparsity",
]
