"""Invariants of a finished IMP search, checked on what it stored and what a probe saw.

Shared by the registry-model tests and the own-model tests (Python API, file:,
py:, folder:, Citeseer), so every model the engine takes is held to the same
rules: global sparsity 1-(1-p)**r (exact survivor counts), pruned weights exactly
0.0, and every pruned round starting from the rewind point masked by its masks.
"""

from __future__ import annotations

import numpy as np
from test_lottery import Probe, assert_starts_from, kept

from lth_tf.core import masks as M
from lth_tf.core.schedule import expected_sparsity


def check_search(store, prune, probe: Probe) -> None:
    """`store` holds rounds 0..prune.rounds of a global, rewind-to-init search."""
    done = store.completed_rounds()
    assert done == list(range(prune.rounds + 1))
    masks0 = store.load_round(0)[1]
    assert masks0 and all(np.all(m == 1.0) for m in masks0.values())
    total = sum(m.size for m in masks0.values())
    remaining = total
    rewind_point = store.load_rewind()
    # Round 0 started from theta0: the rewind point (init) is what round 0 began with.
    start0 = probe.starts[(0, "round")]
    for got, want in zip(start0.weights, rewind_point, strict=True):
        np.testing.assert_array_equal(got, want)
    for r in range(1, prune.rounds + 1):
        weights, masks, _ = store.load_round(r)
        remaining -= M.prune_count(prune.rate, remaining)
        assert sum(kept(masks).values()) == remaining, r
        assert abs(M.sparsity(masks) - expected_sparsity(prune.rate, r)) <= len(masks) / total
        # Nested: a weight pruned once stays pruned.
        prev = store.load_round(r - 1)[1]
        assert all(np.all(masks[n] <= prev[n]) for n in masks)
        assert_starts_from(probe.starts[(r, "round")], rewind_point, masks, f"round {r}")
        # Pruned weights are exactly 0.0 in the stored, trained round.
        lay = probe.starts[(r, "round")].layout
        for (role, name), w in zip(lay, weights, strict=True):
            if role == "kernel":
                assert np.all(w[masks[name] == 0] == 0.0), (r, name)
