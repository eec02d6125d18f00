"""What every pruning criterion is: the `Criterion` interface and the `Step` it is given.

Pure numpy (mask conventions in lth_tf/core/masks/magnitude.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np

from lth_tf.core import masks as M
from lth_tf.core.masks.channels import ChannelPlan


@dataclass(frozen=True)
class Step:
    """What one pruning step knows besides the kernels and masks.

    `layer_rates`: {layer: rate}; an iterative step's per-round rates, a
    one-shot step's final sparsities (the caller converts). `channel_plan`:
    the model's channels, given to criteria with `channels = True` (None
    otherwise). `seed` and `round`: a random criterion draws from them alone,
    so a resumed round draws what the uninterrupted run drew.
    """

    scope: str = "global"
    exclude: Collection[str] = ()
    layer_rates: Mapping[str, float] = field(default_factory=dict)
    channel_plan: ChannelPlan | None = None
    seed: int = 0
    round: int = 0


class Criterion:
    """A pruning criterion: which of the remaining weights a pruning step removes.

    A subclass sets `name` (its `prune.structure` value), `help` (one line for
    the docs) and `channels`, and implements `prune` and `prune_to`. Every
    method returns new float32 0/1 masks for every key of `masks`, nested in
    them (a pruned weight is never revived), and never modifies its inputs.
    """

    name: str = ""
    help: str = ""
    # True: the criterion removes whole output channels. The engine then builds the
    # model's ChannelPlan for it, prune.rate counts channels, rounds report
    # channel_sparsity, the served ticket is narrowed, and prune.layer_rates is refused.
    channels: bool = False

    def prune(self, kernels: M.Weights, masks: Mapping[str, np.ndarray], rate: float, step: Step) -> M.Masks:
        """One iterative step: remove `rate` of the remaining weights (channels) of each group."""
        raise NotImplementedError

    def prune_to(self, kernels: M.Weights, masks: Mapping[str, np.ndarray], target: float, step: Step) -> M.Masks:
        """One-shot: prune until `target` of the prunable weights (channels) are gone."""
        raise NotImplementedError

    def random_masks(self, masks: Mapping[str, np.ndarray], rng: np.random.Generator, step: Step) -> M.Masks:
        """The random-mask control: as many kept per layer as `masks`, at random positions."""
        return M.random_masks(masks, rng, exclude=step.exclude)

    def __repr__(self) -> str:
        return f"<pruning criterion {self.name!r}>"
