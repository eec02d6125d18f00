"""Mask math for lottery-ticket pruning: pure numpy, no TensorFlow.

Masks are ``dict[layer_name, np.ndarray]`` of float32 0/1 arrays with the shape
of the layer's kernel (1 = kept). Weights are ``dict[layer_name, np.ndarray]``
of kernels. Functions never modify their inputs; they return new dicts.

Conventions every function follows:

- A weight whose mask entry is 0 is pruned: it never counts as remaining and its
  magnitude is ignored even if the kernel still holds a non-zero value. Masks
  are nested: a pruned weight stays pruned. Any non-zero mask entry means kept.
- ``prune`` removes ``prune_count(rate, remaining)`` weights per pruning group
  (``round(rate * remaining)``, Python's round), the smallest ``|w|`` first. A
  group is all the non-excluded, non-overridden layers together (``global``), or
  each such layer (``layerwise``); each layer in ``layer_rates`` is its own group.
- Ties are broken deterministically: the order is ``(|w|, layer name, flat index
  in C order)``, so the same inputs give bit-identical masks whatever the dict
  order, and the counts are exact even when many weights share a magnitude.
- Layers in ``exclude`` are never pruned: their mask is returned unchanged.
  Excluded names that are not in ``weights`` are ignored (a layer that was never
  wrapped is not prunable anyway); names in ``layer_rates`` must be layers.

Selection runs in linear time (``np.partition`` for the k-th smallest magnitude,
then one comparison pass per layer), so one global round over ResNet-18's 11M
kernel weights takes a fraction of a second.

This module holds magnitude pruning (`prune`, `prune_to_sparsity`); counts,
sparsity and rates live in `counts`, groups and the tie-broken smallest-k in
`selection`, the random-mask control in `random_masks`. Callers import the
package (`from lth_tf.core import masks as M`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from lth_tf.core.masks.counts import (
    Masks,
    Weights,
    _check_fraction,
    prune_count,
)
from lth_tf.core.masks.selection import (
    _assemble,
    _groups,
    _keep_and_magnitudes,
    _prune_smallest,
)

# -- pruning ---------------------------------------------------------------------------


def prune(
    weights: Weights,
    masks: Mapping[str, np.ndarray],
    rate: float,
    scope: str = "global",
    layer_rates: Mapping[str, float] | None = None,
    exclude: Collection[str] = (),
) -> Masks:
    """One round of magnitude pruning: remove `rate` of the currently remaining weights.

    Args:
        weights: layer name -> kernel (any shape).
        masks: layer name -> current mask, same names and shapes as `weights`.
        rate: fraction of the remaining weights to prune, in (0, 1).
        scope: ``"global"``: one magnitude threshold across all layers that are
            neither excluded nor overridden, exactly ``prune_count(rate, total
            remaining)`` pruned in total. ``"layerwise"``: every such layer loses
            exactly ``prune_count(rate, remaining in the layer)``.
        layer_rates: ``{name: rate}`` in [0, 1); each such layer is pruned on its
            own at its own rate (e.g. the output layer at half the rate, as
            Frankle & Carbin do), whatever the scope.
        exclude: layer names never pruned; their masks are returned unchanged.

    Returns:
        New masks (float32 0/1) for every layer of `weights`, nested in `masks`.

    Raises:
        ValueError: bad rate or scope, or weights and masks that do not match
            (the message names the layer), or a non-finite remaining weight.
    """
    _check_fraction(rate, "rate", allow_zero=False)
    groups = _groups(weights, masks, scope, layer_rates, exclude)
    keep, mags = _keep_and_magnitudes(weights, masks, [n for names, _ in groups for n in names])
    new = {}
    for names, group_rate in groups:
        r = rate if group_rate is None else group_rate
        remaining = sum(int(np.count_nonzero(keep[n])) for n in names)
        new.update(_prune_smallest(names, mags, keep, prune_count(r, remaining)))
    return _assemble(weights, masks, new)


def prune_to_sparsity(
    weights: Weights,
    masks: Mapping[str, np.ndarray],
    target: float,
    scope: str = "global",
    layer_rates: Mapping[str, float] | None = None,
    exclude: Collection[str] = (),
) -> Masks:
    """One-shot magnitude pruning to `target` sparsity over the prunable (non-excluded) weights.

    Args:
        weights, masks, scope, exclude: as in `prune`.
        target: fraction of the prunable weights that should be pruned, in [0, 1).
        layer_rates: ``{name: sparsity}``; each such layer is pruned on its own
            to that sparsity of the layer. The other layers absorb the rest, so
            the overall target still holds.

    With ``"global"`` the total number of pruned prunable weights is exactly
    ``round(target * total)``; with ``"layerwise"`` the non-overridden layers all
    get the same sparsity, each within one weight of it. Masks are nested: a
    layer (or group) that is already sparser than asked stays as it is, so the
    target can then be overshot. Overrides are likewise floors, never unpruned.

    Returns:
        New masks (float32 0/1) for every layer of `weights`, nested in `masks`.
    """
    _check_fraction(target, "target", allow_zero=True)
    groups = _groups(weights, masks, scope, layer_rates, exclude)
    prunable = [n for names, _ in groups for n in names]
    keep, mags = _keep_and_magnitudes(weights, masks, prunable)

    def zeros(n: str) -> int:
        return int(keep[n].size - np.count_nonzero(keep[n]))

    new: dict[str, np.ndarray] = {}
    rest: list[str] = []
    for names, group_rate in groups:
        if group_rate is None:
            rest.extend(names)
            continue
        for n in names:  # an override group holds one layer
            new.update(
                _prune_smallest([n], mags, keep, round(group_rate * keep[n].size) - zeros(n))
            )
    total = sum(keep[n].size for n in prunable)
    override_zeros = sum(int(new[n].size - np.count_nonzero(new[n])) for n in new)
    want_rest = round(float(target) * total) - override_zeros  # zeros the rest should hold
    rest_size = sum(keep[n].size for n in rest)
    if scope == "global":
        k = want_rest - sum(zeros(n) for n in rest)
        new.update(_prune_smallest(sorted(rest), mags, keep, k))
    else:
        share = min(1.0, max(0.0, want_rest / rest_size)) if rest_size else 0.0
        for n in rest:
            new.update(_prune_smallest([n], mags, keep, round(share * keep[n].size) - zeros(n)))
    return _assemble(weights, masks, new)
