"""Counting masks and pruning rates: how many weights a round prunes, how sparse a mask is.

Pure numpy (conventions in lth_tf/core/masks/magnitude.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

Masks = dict[str, np.ndarray]
Weights = Mapping[str, np.ndarray]


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


def _check_fraction(value: float, what: str, allow_zero: bool) -> None:
    ok_type = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool
    )
    low_ok = ok_type and (value >= 0.0 if allow_zero else value > 0.0)
    if not (ok_type and low_ok and value < 1.0):  # also rejects NaN
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise ValueError(f"{what} must be in {interval}, got {value!r}")
