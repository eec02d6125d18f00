"""`prune.structure = random`: random pruning, the baseline a pruning criterion must beat.

Each step removes exactly what magnitude pruning would remove (the same groups:
global or per layer, `prune.exclude` and `prune.layer_rates` honoured, the same
`prune_count` per group), but picks the weights at random among the remaining
ones: it is magnitude pruning of random scores. The scores depend on
(seed, round) and the kernels' names and shapes only, never on their values, so
a resumed round draws what the uninterrupted run drew. With rewind = init this
is "random pruning at initialisation" (Liu et al. 2022, "The Unreasonable
Effectiveness of Random Pruning"; Frankle et al. 2021 "Pruning Neural Networks
at Initialization: Why are We Missing the Mark?") trained at the same
sparsities as the tickets.
"""

from __future__ import annotations

import numpy as np

from lth_tf.core import masks as M
from lth_tf.core.criteria.base import Criterion, Step

# Keeps these draws apart from every other stream derived from the same seed.
STREAM = 0x52414E44  # "RAND"


class RandomPruning(Criterion):
    name = "random"
    help = "random pruning: magnitude's counts per group at random positions (a baseline)"

    def prune(self, kernels, masks, rate, step):
        return M.prune(scores(kernels, step), masks, rate, step.scope, step.layer_rates or None, step.exclude)

    def prune_to(self, kernels, masks, target, step):
        return M.prune_to_sparsity(
            scores(kernels, step), masks, target, step.scope, step.layer_rates or None, step.exclude
        )


def scores(kernels: M.Weights, step: Step) -> dict[str, np.ndarray]:
    """Uniform [0, 1) scores shaped like each kernel, from (step.seed, step.round) alone.

    Layers draw in sorted name order, so the dict order does not matter; the
    result keeps the order of `kernels` (the masks come back in it).
    """
    rng = np.random.default_rng([STREAM, step.seed & (2**64 - 1), step.round])
    drawn = {name: rng.random(np.shape(kernels[name])) for name in sorted(kernels)}
    return {name: drawn[name] for name in kernels}


CRITERION = RandomPruning()
