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
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from lth_tf.schedule import expected_sparsity

Masks = dict[str, np.ndarray]
Weights = Mapping[str, np.ndarray]

SCOPES = ("global", "layerwise")

__all__ = [
    "SCOPES",
    "Masks",
    "count",
    "expected_sparsity",
    "layer_sparsity",
    "ones_like",
    "prune",
    "prune_count",
    "prune_to_sparsity",
    "random_masks",
    "rate_for",
    "sparsity",
]


# -- small helpers -------------------------------------------------------------------


def ones_like(weights: Weights) -> Masks:
    """A dense mask (all ones, float32) for every layer of `weights`."""
    return {name: np.ones(np.shape(w), dtype=np.float32) for name, w in weights.items()}


def prune_count(rate: float, remaining: int) -> int:
    """How many of `remaining` weights one round at `rate` prunes: ``round(rate * remaining)``.

    Python's ``round`` (halves go to the even number), clamped to ``[0, remaining]``.
    Tests and callers that predict counts should use this function.
    """
    return max(0, min(int(remaining), round(rate * remaining)))


def rate_for(rounds: int, final_sparsity: float) -> float:
    """Per-round rate that reaches `final_sparsity` after `rounds` rounds.

    The inverse of `expected_sparsity`: ``1 - (1 - final_sparsity) ** (1 / rounds)``.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or rounds < 1:
        raise ValueError(f"rounds must be a whole number >= 1, got {rounds!r}")
    _check_fraction(final_sparsity, "final_sparsity", allow_zero=False)
    return 1.0 - (1.0 - float(final_sparsity)) ** (1.0 / int(rounds))


def count(masks: Mapping[str, np.ndarray], exclude: Collection[str] = ()) -> tuple[int, int]:
    """``(kept, total)`` weights over all layers not in `exclude`."""
    kept = total = 0
    for name, m in masks.items():
        if name in exclude:
            continue
        m = np.asarray(m)
        kept += int(np.count_nonzero(m))
        total += int(m.size)
    return kept, total


def sparsity(masks: Mapping[str, np.ndarray], exclude: Collection[str] = ()) -> float:
    """Fraction of weights that are pruned (mask 0) over all layers not in `exclude`."""
    kept, total = count(masks, exclude)
    return 0.0 if total == 0 else (total - kept) / total


def layer_sparsity(masks: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Fraction of pruned weights per layer (0.0 for an empty layer)."""
    out = {}
    for name, m in masks.items():
        m = np.asarray(m)
        out[name] = 0.0 if m.size == 0 else float(m.size - np.count_nonzero(m)) / m.size
    return out


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


def random_masks(
    masks: Mapping[str, np.ndarray],
    rng: np.random.Generator | int,
    exclude: Collection[str] = (),
) -> Masks:
    """The random-mask control: per layer as many kept weights as `masks`, at random positions.

    `rng` is a ``np.random.Generator`` (or an int seed for one). Layers are drawn
    in sorted name order, so a given generator state gives the same masks
    whatever the dict order. Excluded layers keep their mask.
    """
    if not isinstance(rng, np.random.Generator):
        if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
            rng = np.random.default_rng(int(rng))
        else:
            raise TypeError(
                f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}"
            )
    excluded = set(exclude)
    out: dict[str, np.ndarray] = {}
    for name in sorted(masks):
        m = np.asarray(masks[name])
        if name in excluded:
            out[name] = m.astype(np.float32, copy=True)
            continue
        kept = int(np.count_nonzero(m))
        flat = np.zeros(m.size, dtype=np.float32)
        if kept == m.size:
            flat[:] = 1.0
        elif kept:
            flat[rng.choice(m.size, size=kept, replace=False)] = 1.0
        out[name] = flat.reshape(m.shape)
    return {name: out[name] for name in masks}


# -- internals --------------------------------------------------------------------------


def _check_fraction(value: float, what: str, allow_zero: bool) -> None:
    ok_type = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool
    )
    low_ok = ok_type and (value >= 0.0 if allow_zero else value > 0.0)
    if not (ok_type and low_ok and value < 1.0):  # also rejects NaN
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise ValueError(f"{what} must be in {interval}, got {value!r}")


def _groups(
    weights: Weights,
    masks: Mapping[str, np.ndarray],
    scope: str,
    layer_rates: Mapping[str, float] | None,
    exclude: Collection[str],
) -> list[tuple[list[str], float | None]]:
    """Validate the inputs; return the pruning groups as ``(layer names, rate or None)``.

    Names are sorted (the tie-break order). A rate of None means the caller's
    rate applies; a group with its own rate (an override) holds one layer.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if isinstance(exclude, str):
        raise TypeError(f"exclude must be a collection of layer names, not the string {exclude!r}")
    for name in weights:
        if name not in masks:
            raise ValueError(f"layer '{name}' has weights but no mask")
    for name in masks:
        if name not in weights:
            raise ValueError(f"layer '{name}' has a mask but no weights")
    for name, w in weights.items():
        ws, ms = np.shape(w), np.shape(masks[name])
        if ws != ms:
            raise ValueError(f"layer '{name}': weights have shape {ws} but the mask has {ms}")
    excluded = set(exclude)
    overrides = dict(layer_rates or {})
    for name, r in overrides.items():
        if name not in weights and name not in excluded:
            raise ValueError(f"layer_rates names layer '{name}', which is not among the weights")
        _check_fraction(r, f"layer_rates['{name}']", allow_zero=True)
    prunable = sorted(n for n in weights if n not in excluded)
    shared = [n for n in prunable if n not in overrides]
    groups: list[tuple[list[str], float | None]] = []
    if scope == "global":
        if shared:
            groups.append((shared, None))
    else:
        groups.extend(([n], None) for n in shared)
    groups.extend(([n], float(overrides[n])) for n in prunable if n in overrides)
    return groups


def _keep_and_magnitudes(
    weights: Weights, masks: Mapping[str, np.ndarray], names: list[str]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Boolean kept-maps and |w| for the prunable layers; rejects non-finite kept weights."""
    keep, mags = {}, {}
    for name in names:
        w = np.asarray(weights[name])
        if not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)):
            raise ValueError(f"layer '{name}': weights must be numbers, got dtype {w.dtype}")
        k = np.asarray(masks[name]) != 0
        a = np.abs(w)
        if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a[k]).all():
            raise ValueError(f"layer '{name}': remaining weights contain NaN or inf")
        keep[name], mags[name] = k, a
    return keep, mags


def _prune_smallest(
    names: list[str], mags: dict[str, np.ndarray], keep: dict[str, np.ndarray], k: int
) -> dict[str, np.ndarray]:
    """Un-keep the `k` smallest remaining magnitudes across `names` (in that order).

    Order: magnitude, then position of the layer in `names`, then flat C index.
    Returns new boolean kept-maps for `names`.
    """
    if k <= 0:
        return {n: keep[n].copy() for n in names}
    parts = [mags[n][keep[n]] for n in names]  # boolean indexing: C order, fresh copies
    vals = np.concatenate(parts) if len(parts) != 1 else parts[0]
    if k >= vals.size:
        return {n: np.zeros_like(keep[n]) for n in names}
    vals.partition(k - 1)  # in place: vals is our own copy
    t = vals[k - 1]
    budget = k - int(np.count_nonzero(vals[: k - 1] < t))  # how many ties at t go
    out = {}
    for n in names:
        m, kp = mags[n], keep[n]
        nk = kp & (m > t)
        ties = np.flatnonzero(kp & (m == t))
        take = min(budget, ties.size)
        nk.flat[ties[take:]] = True  # the first `take` ties (by flat index) are pruned
        budget -= take
        out[n] = nk
    return out


def _assemble(
    weights: Weights, masks: Mapping[str, np.ndarray], new: dict[str, np.ndarray]
) -> Masks:
    """Float32 masks in the order of `weights`; layers not in `new` keep their mask."""
    out = {}
    for name in weights:
        if name in new:
            out[name] = new[name].astype(np.float32)
        else:
            out[name] = np.asarray(masks[name]).astype(np.float32, copy=True)
    return out
