"""The pruning step as configured: the masks round r takes, between rounds and for early-bird.

One rule, the configured criterion's (prune.structure, lth_tf/core/criteria/),
used in two places that must agree: between rounds (`next_masks`: round r's
masks from round r-1's trained weights) and, in early-bird rounds, at every
epoch end (`early_bird_stop`: the masks the next round would take from the
weights so far, so the stop rule watches exactly what the next round will do).
The random-mask control draws its masks through the same criterion
(`control_masks`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lth_tf.core import masks as M
from lth_tf.core.criteria import Step
from lth_tf.core.schedule import expected_sparsity
from lth_tf.keras_side import pruning as P
from lth_tf.search.plan import Plan

MaskRule = Callable[[dict, dict], dict[str, np.ndarray]]


def criterion_step(plan: Plan, wrapped, r: int) -> Step:
    """What round r's pruning step tells the criterion besides kernels and masks.

    The model's ChannelPlan only for criteria that remove whole channels.
    prune.layer_rates are per-round rates; one-shot wants each layer's final sparsity.
    """
    p = plan.prune
    layer_rates = p.layer_rates
    if p.one_shot:
        layer_rates = {n: expected_sparsity(x, p.rounds) for n, x in p.layer_rates.items()}
    cplan = P.channel_plan(wrapped) if plan.criterion.channels else None
    return Step(p.scope, p.exclude, layer_rates, cplan, plan.seed, r)


def mask_rule(plan: Plan, wrapped, r: int) -> MaskRule:
    """The pruning step `(kernels, masks) -> round r's masks`, as configured.

    Iterative rounds prune round r's rate of prune.rate_schedule (prune.rate when
    constant); one-shot prunes to the final sparsity at once.
    """
    criterion, step = plan.criterion, criterion_step(plan, wrapped, r)
    if plan.prune.one_shot:
        target = plan.target_sparsity(1)
        return lambda k, m: criterion.prune_to(k, m, target, step)
    rate = plan.round_rate(r)
    return lambda k, m: criterion.prune(k, m, rate, step)


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


def control_masks(plan: Plan, wrapped, r: int, masks: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The random-mask control of round r: `masks`' counts per layer (channels, per the criterion), random positions."""
    return plan.criterion.random_masks(masks, rng, criterion_step(plan, wrapped, r))


def early_bird_stop(plan: Plan, wrapped, r: int) -> P.EarlyBirdStop | None:
    """The early-bird callback of round r, or None when round r trains in full.

    It watches the masks round r+1 will take (its rate, under a rate schedule).
    """
    if not plan.stops_early(r):
        return None
    p = plan.prune
    return P.EarlyBirdStop(wrapped, mask_rule(plan, wrapped, r + 1), p.eb_distance, p.eb_window)
