"""`prune.structure = weights`: magnitude pruning, the smallest |w| of each group go.

The math is lth_tf/core/masks/magnitude.py (exact counts, deterministic ties).
"""

from __future__ import annotations

from lth_tf.core import masks as M
from lth_tf.core.criteria.base import Criterion


class Magnitude(Criterion):
    name = "weights"
    help = "magnitude pruning: the smallest |w| go (Frankle & Carbin)"

    def prune(self, kernels, masks, rate, step):
        return M.prune(kernels, masks, rate, step.scope, step.layer_rates or None, step.exclude)

    def prune_to(self, kernels, masks, target, step):
        return M.prune_to_sparsity(kernels, masks, target, step.scope, step.layer_rates or None, step.exclude)


CRITERION = Magnitude()
