"""A channel-pruned ticket as a physically narrower model, and what a ticket costs to serve.

`narrow(wrapped)` takes a wrapped model holding a round's weights and masks and
returns a plain tf_keras model with fewer filters / units / GCN channels: every
channel that no consumer reads any more (its input slice is masked to zero in
each layer that reads it, see `lth_tf.core.masks.channels`) is gone. The copy is
made with `keras.models.clone_model`, lowering each producer's `filters`,
`units` or `channels`; weights are sliced along the output axis by the layer's
kept channels, along the input axis by its producer's kept channels (tiled
through a Flatten), and BatchNorm's per-channel vectors by the channels they
carry. It computes what the masked model computes (a removed channel's
constant, e.g. a BatchNorm shift, reached nothing but zero weights).

A weight-pruned ticket narrows too, but only channels whose every reader is
entirely zero go, which magnitude pruning rarely produces.

`costs(model)` measures a narrowed model (parameters and the MACs it really
runs); `ticket_size` gives a round's per-round size figures (`flops.inference_size`
of the narrowed model with channel pruning). The narrow export format
(`lth_tf/export/narrow.py`) writes `narrow(wrapped)` as a SavedModel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lth_tf.core.masks import channels as CH
from lth_tf.keras_side import clone as cloning
from lth_tf.keras_side import flops
from lth_tf.keras_side import pruning as P
from lth_tf.platform.backend import keras


def narrow(wrapped: keras.Model) -> keras.Model:
    """A plain, narrower model computing what `wrapped` (weights and masks) computes."""
    masks = P.get_masks(wrapped)
    plain = P.strip(wrapped)
    plan = P.channel_plan(plain)
    keep = CH.narrow_keep(masks, plan)
    return _narrowed(plain, plan, keep)


def kept_channels(wrapped: keras.Model) -> dict[str, tuple[int, int]]:
    """{producer: (kept, total) channels} the narrow export keeps."""
    plan = P.channel_plan(wrapped)
    keep = CH.narrow_keep(P.get_masks(wrapped), plan)
    return {n: (int(k.sum()), int(k.size)) for n, k in keep.items()}


def costs(model: keras.Model, graph: Any = None) -> dict[str, int]:
    """What a (narrowed) plain model costs per example: {"params": weights incl. biases
    and BatchNorm, "macs": multiply-adds of every kernel entry (lth_tf.keras_side.flops; a
    narrowed model runs all of its entries, so these are the MACs it really does)}.

    `graph`: a `flops.GraphSize` for GCN layers (their adjacency product). The
    export report prints every key returned.
    """
    return {"params": int(model.count_params()), "macs": int(flops.model_macs(model, graph=graph).dense)}


def ticket_size(wrapped: keras.Model, graph: Any = None, channels: bool = False) -> dict[str, Any]:
    """`flops.inference_size` of a round's ticket as it would be served: the narrowed
    model when `channels` (structured pruning), else the masked model itself."""
    return flops.inference_size(narrow(wrapped) if channels else wrapped, graph)


def _narrowed(plain: keras.Model, plan: CH.ChannelPlan, keep: dict[str, np.ndarray]) -> keras.Model:
    # index arrays per layer: out (own channels), in (producer's, tiled), carried (BatchNorm)
    out_idx = {n: np.flatnonzero(k) for n, k in keep.items()}
    in_idx: dict[str, np.ndarray] = {}
    carried: dict[str, np.ndarray] = {}
    for n, p in plan.producers.items():
        for c in p.consumers:
            in_idx[c.name] = np.flatnonzero(np.tile(keep[n], c.repeat))
        for c in p.carriers:
            carried[c.name] = np.flatnonzero(np.tile(keep[n], c.repeat))

    def clone(layer):
        config = cloning.config(layer)
        if layer.name in plan.producers:
            config[plan.producers[layer.name].width_key] = int(out_idx[layer.name].size)
        return layer.__class__.from_config(config)

    narrow_model = keras.models.clone_model(plain, clone_function=clone)
    sources = {layer.name: layer for layer in plain.layers}
    for layer in narrow_model.layers:
        if layer.weights:
            weights = sources[layer.name].get_weights()
            layer.set_weights([_slice(w, layer.name, out_idx, in_idx, carried) for w in weights])
    return narrow_model


def _slice(w: np.ndarray, name: str, out_idx, in_idx, carried) -> np.ndarray:
    if name in carried:  # BatchNorm: gamma, beta, moving mean and variance, one per channel
        return w[carried[name]] if w.ndim == 1 else w
    if w.ndim >= 2 and name in in_idx:
        w = np.take(w, in_idx[name], axis=-2)
    if name in out_idx:
        w = np.take(w, out_idx[name], axis=-1)  # kernel's output axis, or the bias
    return w
