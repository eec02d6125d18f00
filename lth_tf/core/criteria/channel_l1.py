"""`prune.structure = channels`: whole output channels by their L1 norm (Li et al. 2017).

The math is lth_tf/core/masks/channels.py; `prune.rate` counts channels, each
layer keeps at least one, and the random-mask control draws live channels.
"""

from __future__ import annotations

from lth_tf.core.criteria.base import Criterion, Step
from lth_tf.core.masks import channels as CH


class ChannelL1(Criterion):
    name = "channels"
    help = "whole filters/units by L1 norm (Li et al.); rate then counts channels"
    channels = True

    def prune(self, kernels, masks, rate, step):
        return CH.prune(kernels, masks, plan_of(step), rate, step.scope, step.exclude)

    def prune_to(self, kernels, masks, target, step):
        return CH.prune_to_fraction(kernels, masks, plan_of(step), target, step.scope, step.exclude)

    def random_masks(self, masks, rng, step):
        return CH.random_masks(masks, plan_of(step), rng, step.exclude)


def plan_of(step: Step) -> CH.ChannelPlan:
    if step.channel_plan is None:
        raise ValueError("channel pruning needs the model's ChannelPlan (Step.channel_plan)")
    return step.channel_plan


CRITERION = ChannelL1()
