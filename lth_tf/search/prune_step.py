"""The pruning step as configured: the masks round r takes, between rounds and for early-bird.

One rule for weights and channels, used in two places that must agree: between
rounds (`next_masks`: round r's masks from round r-1's trained weights) and, in
early-bird rounds, at every epoch end (`early_bird_stop`: the masks the next
round would take from the weights so far, so the stop rule watches exactly
what the next round will do).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lth_tf.core import masks as M
from lth_tf.core.masks import channels as CH
from lth_tf.core.schedule import expected_sparsity
from lth_tf.keras_side import pruning as P
from lth_tf.search.plan import Plan

MaskRule = Callable[[dict, dict], dict[str, np.ndarray]]


def mask_rule(plan: Plan, wrapped, r: int) -> MaskRule:
    """The pruning step `(kernels, masks) -> round r's masks`, as configured.

    Iterative rounds prune round r's rate of prune.rate_schedule (prune.rate when constant).

    Channels: whole channels by L1 norm over the model's channel plan
    (pruning/channels.py); weights: magnitude pruning (pruning/masks.py).
    """
    p = plan.prune
    target = plan.target_sparsity(1)  # one-shot: the final sparsity at once
    rate = None if p.one_shot else plan.round_rate(r)
    if plan.channels:
        cplan = P.channel_plan(wrapped)
        if p.one_shot:
            return lambda k, m: CH.prune_to_fraction(k, m, cplan, target, p.scope, p.exclude)
        return lambda k, m: CH.prune(k, m, cplan, rate, p.scope, p.exclude)
    if p.one_shot:
        # layer_rates are per-round rates; one-shot wants each layer's final sparsity.
        layer_targets = {n: expected_sparsity(x, p.rounds) for n, x in p.layer_rates.items()}
        return lambda k, m: M.prune_to_sparsity(
            k, m, target, p.scope, layer_targets or None, p.exclude
        )
    return lambda k, m: M.prune(k, m, rate, p.scope, p.layer_rates or None, p.exclude)


def next_masks(
    plan: Plan,
    wrapped,
    r: int,
    prev_weights: list,
    prev_masks: dict,
    dense_weights: list | None = None,
) -> dict[str, np.ndarray]:
    """Round r's masks from round r-1's trained weights and masks.

    One-shot prunes the dense round's weights (`dense_weights`) from all-ones masks.
    Leaves `wrapped` holding the weights the masks were taken from.
    """
    rule = mask_rule(plan, wrapped, r)
    if plan.prune.one_shot:
        wrapped.set_weights(dense_weights)
        kernels = P.get_kernels(wrapped)
        return rule(kernels, M.ones_like(kernels))
    wrapped.set_weights(prev_weights)
    return rule(P.get_kernels(wrapped), prev_masks)


def early_bird_stop(plan: Plan, wrapped, r: int) -> P.EarlyBirdStop | None:
    """The early-bird callback of round r, or None when round r trains in full.

    It watches the masks round r+1 will take (its rate, under a rate schedule).
    """
    if not plan.stops_early(r):
        return None
    p = plan.prune
    return P.EarlyBirdStop(wrapped, mask_rule(plan, wrapped, r + 1), p.eb_distance, p.eb_window)
