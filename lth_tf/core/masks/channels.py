"""Structured (channel) pruning math: pure numpy, no TensorFlow.

`prune.structure = "channels"` removes whole output channels of convolutions and
whole units of Dense and GCN hidden layers, ranked by the L1 norm of each
channel's weights (Li et al. 2017, "Pruning Filters for Efficient ConvNets").
A channel mask is still an elementwise 0/1 mask in the format of
`lth_tf.core.masks` (same keys and shapes), so wrappers, rewinding, resume
and the sparsity accounting work unchanged. Its form is fixed:

    mask[..., i, o] = in_keep[i] * out_keep[o]

`out_keep` is the layer's own channels; `in_keep` the channels its producer
kept (tiled when a Flatten lies between them). Zeroing the consumer's input
slice as well is what makes a removed channel exactly dead: after a BatchNorm
or a bias the removed channel still carries a constant, and only the zero
input slice downstream stops it, so the physically narrower export
(`lth_tf.keras_side.narrow`) computes what the masked model computes.

Which layers may lose channels is a graph fact (`channel_graph.channel_plan`
reads it from the Keras model): a `ChannelPlan` maps each producer to the
layers that read its channels. Counting:

- One round removes ``masks.prune_count(rate, remaining)`` channels per group
  (all prunable layers with ``"global"``, each layer with ``"layerwise"``), so
  `Plan.target_sparsity(r)` is the planned fraction of prunable CHANNELS
  removed. The weight sparsity the runs report is larger in the pruned layers
  (a removed channel also empties its consumer's input slice) and smaller
  overall, because the layers a residual tie keeps whole stay dense.
- Scores: per layer, the L1 norm of the channel's kept weights divided by the
  channel's weight count. Within one layer this ranks exactly as Li et al.'s
  L1 norm; the division lets ``"global"`` compare layers of different fan-in
  (as global magnitude pruning compares single weights).
- Every layer keeps at least one channel: an empty layer would cut the network.
- Ties break by (score, layer name, channel index), so results are deterministic.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np

from lth_tf.core.masks import SCOPES, Masks, Weights, prune_count

__all__ = [
    "ChannelPlan",
    "Consumer",
    "Producer",
    "channel_sparsity",
    "keep_vectors",
    "masks_from_keep",
    "narrow_keep",
    "prune",
    "prune_to_fraction",
    "random_masks",
    "scores",
]


@dataclass(frozen=True)
class Consumer:
    """A layer reading a producer's channels on its kernel's input axis (-2).

    `repeat`: input rows per channel (a Flatten of H x W x C gives H*W; row i is
    channel ``i % C``).
    """

    name: str
    repeat: int = 1


@dataclass(frozen=True)
class Producer:
    """A layer whose output channels can go whole, and what reads them."""

    name: str
    channels: int
    consumers: tuple[Consumer, ...]
    carriers: tuple[Consumer, ...] = ()  # channel-wise layers with weights between (BatchNorm)
    width_key: str = ""  # its config key for the channel count: units, filters, channels


@dataclass(frozen=True)
class ChannelPlan:
    """Producers whose channels can go, and the layers that cannot (name -> why)."""

    producers: Mapping[str, Producer]
    blocked: Mapping[str, str]
    classes: Mapping[str, str] = field(default_factory=dict)  # layer name -> class name

    def prunable(self, masks: Collection[str], exclude: Collection[str] = ()) -> list[str]:
        """Sorted producers that hold a mask, as do all their consumers, and are not excluded."""
        return sorted(
            n
            for n, p in self.producers.items()
            if n in masks and n not in exclude and all(c.name in masks for c in p.consumers)
        )

    def unpruned(self, masks: Collection[str], exclude: Collection[str] = ()) -> list[dict]:
        """[{name, class, reason}] of layers with a kernel whose channels stay whole."""
        ok = set(self.prunable(masks, exclude))
        out = []
        for name in masks:
            if name in ok:
                continue
            if name in exclude:
                why = "excluded (prune.exclude)"
            elif name in self.producers:
                why = "feeds a layer that is not pruned"
            else:
                why = self.blocked.get(name, "not a Dense, Conv or GCN layer")
            out.append({"name": name, "class": self.classes.get(name, ""), "reason": why})
        return out


# -- reading masks -----------------------------------------------------------------------


def keep_vectors(masks: Mapping[str, np.ndarray], names: Collection[str]) -> dict[str, np.ndarray]:
    """{name: bool (C,)}: a channel is alive while any weight of its output slice is kept."""
    out = {}
    for n in names:
        m = np.asarray(masks[n]) != 0
        out[n] = m.reshape(-1, m.shape[-1]).any(axis=0)
    return out


def channel_sparsity(
    masks: Mapping[str, np.ndarray], plan: ChannelPlan, exclude: Collection[str] = ()
) -> float:
    """Fraction of the prunable channels removed (what the planned schedule counts)."""
    keep = keep_vectors(masks, plan.prunable(masks, exclude))
    total = sum(k.size for k in keep.values())
    return 0.0 if total == 0 else 1.0 - sum(int(k.sum()) for k in keep.values()) / total


def scores(weights: Weights, masks: Mapping[str, np.ndarray], names: Collection[str]) -> dict[str, np.ndarray]:
    """{name: (C,)} mean |w| of each output channel's kept weights (L1 norm / slice size)."""
    out = {}
    for n in names:
        w = np.abs(np.asarray(weights[n], dtype=np.float64)) * (np.asarray(masks[n]) != 0)
        if not np.isfinite(w).all():
            raise ValueError(f"layer '{n}': remaining weights contain NaN or inf")
        flat = w.reshape(-1, w.shape[-1])
        out[n] = flat.sum(axis=0) / flat.shape[0]
    return out


def narrow_keep(masks: Mapping[str, np.ndarray], plan: ChannelPlan) -> dict[str, np.ndarray]:
    """{producer: bool (C,)} channels a narrower model must keep to compute the same outputs.

    A channel can go when every consumer's input slice for it is masked to zero
    (then nothing downstream reads it, whatever the producer computes). A
    producer with an unmasked consumer keeps everything; at least one channel
    always stays (Keras cannot build a layer of width 0).
    """
    out = {}
    for name, p in plan.producers.items():
        keep = np.zeros(p.channels, dtype=bool)
        for c in p.consumers:
            if c.name not in masks:
                keep[:] = True
                break
            m = np.asarray(masks[c.name]) != 0
            rows = np.moveaxis(m, -2, 0).reshape(m.shape[-2], -1).any(axis=1)
            keep |= rows.reshape(-1, p.channels).any(axis=0)  # row i is channel i % C
        if not keep.any():
            keep[0] = True
        out[name] = keep
    return out


# -- writing masks -----------------------------------------------------------------------


def masks_from_keep(
    masks: Mapping[str, np.ndarray], plan: ChannelPlan, keep: Mapping[str, np.ndarray]
) -> Masks:
    """Masks with ``in_keep x out_keep`` for every producer in `keep` and its consumers.

    Layers neither in `keep` nor fed by it keep their mask unchanged.
    """
    out_vec = {n: np.asarray(k, dtype=np.float32) for n, k in keep.items()}
    in_vec: dict[str, np.ndarray] = {}
    for n, k in out_vec.items():
        for c in plan.producers[n].consumers:
            in_vec[c.name] = np.tile(k, c.repeat)
    new: Masks = {}
    for name, m in masks.items():
        shape = np.shape(m)
        if name not in out_vec and name not in in_vec:
            new[name] = np.asarray(m, dtype=np.float32).copy()
            continue
        mask = np.ones(shape, dtype=np.float32)
        if name in out_vec:
            mask *= out_vec[name]
        if name in in_vec:
            mask *= in_vec[name][:, None]
        new[name] = mask
    return new


def prune(
    weights: Weights,
    masks: Mapping[str, np.ndarray],
    plan: ChannelPlan,
    rate: float,
    scope: str = "global",
    exclude: Collection[str] = (),
    score_masks: Mapping[str, np.ndarray] | None = None,
) -> Masks:
    """One round: remove ``prune_count(rate, remaining channels)`` per group, lowest score first.

    `score_masks`: the mask the scores read (default `masks`); refill passes
    its unstructured magnitude mask. Which channels are alive, and so the
    counts, always come from `masks`.
    """
    names = _check(masks, plan, scope, exclude)
    keep = keep_vectors(masks, names)
    return _remove(weights, masks, plan, keep, scope, lambda alive, total: prune_count(rate, alive), score_masks)


def prune_to_fraction(
    weights: Weights,
    masks: Mapping[str, np.ndarray],
    plan: ChannelPlan,
    target: float,
    scope: str = "global",
    exclude: Collection[str] = (),
    score_masks: Mapping[str, np.ndarray] | None = None,
) -> Masks:
    """One shot: remove channels until ``round(target * channels)`` of each group are gone.

    `score_masks` as in `prune`."""
    names = _check(masks, plan, scope, exclude)
    keep = keep_vectors(masks, names)

    def how_many(alive: int, total: int) -> int:
        return round(target * total) - (total - alive)

    return _remove(weights, masks, plan, keep, scope, how_many, score_masks)


def random_masks(
    masks: Mapping[str, np.ndarray],
    plan: ChannelPlan,
    rng: np.random.Generator | int,
    exclude: Collection[str] = (),
) -> Masks:
    """The random-mask control: per prunable layer as many live channels, at random positions."""
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(int(rng))
    names = plan.prunable(masks, exclude)
    keep = {}
    for n, k in keep_vectors(masks, names).items():  # sorted: same draws whatever the dict order
        new = np.zeros(k.size, dtype=bool)
        new[rng.choice(k.size, size=int(k.sum()), replace=False)] = True
        keep[n] = new
    return masks_from_keep(masks, plan, keep)


# -- internals ---------------------------------------------------------------------------


def _check(masks: Mapping[str, np.ndarray], plan: ChannelPlan, scope: str, exclude: Collection[str]) -> list[str]:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    names = plan.prunable(masks, exclude)
    for n in names:
        got, want = np.shape(masks[n])[-1], plan.producers[n].channels
        if got != want:
            raise ValueError(f"layer '{n}': its mask has {got} output channels, the plan {want}")
    return names


def _remove(weights, masks, plan, keep, scope, how_many, score_masks=None) -> Masks:
    """Remove `how_many(alive, total)` channels per group; each layer keeps its best one.

    Scores read `score_masks` (default `masks`); only channels alive in `masks` compete."""
    names = sorted(keep)
    score = scores(weights, masks if score_masks is None else score_masks, names)
    groups = [names] if scope == "global" else [[n] for n in names]
    new = {n: k.copy() for n, k in keep.items()}
    for group in groups:
        alive = sum(int(keep[n].sum()) for n in group)
        total = sum(keep[n].size for n in group)
        k = how_many(alive, total)
        if k <= 0 or not group:
            continue
        s, layer, idx = [], [], []
        for pos, n in enumerate(group):
            live = np.flatnonzero(keep[n])
            order = live[np.lexsort((live, score[n][live]))]
            order = order[:-1]  # the layer's best channel is never a candidate
            s.append(score[n][order])
            layer.append(np.full(order.size, pos))
            idx.append(order)
        s, layer, idx = np.concatenate(s), np.concatenate(layer), np.concatenate(idx)
        chosen = np.lexsort((idx, layer, s))[:k]
        for j in chosen:
            new[group[layer[j]]][idx[j]] = False
    return masks_from_keep(masks, plan, new)
