"""The selection under magnitude pruning: pruning groups, the `k` smallest remaining
magnitudes with the deterministic tie-break, and assembling float32 masks.

Pure numpy (conventions in lth_tf/core/masks/magnitude.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from lth_tf.core.masks.counts import Masks, Weights, _check_fraction

SCOPES = ("global", "layerwise")


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
    if k <= 0 or not names:  # no names: one-shot with every layer at its own rate
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
