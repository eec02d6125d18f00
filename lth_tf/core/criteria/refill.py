"""`prune.structure = refill`: IMP-Refill (Chen et al., ICML 2022, "Coarsening the
Granularity: Towards Structurally Sparse Lottery Tickets").

Each step first computes the unstructured magnitude mask `weights` would
(the same rate, scope and `prune.exclude`), then turns it into whole channels:
each output channel (filter/unit) of each channel-prunable layer is scored by
the L1 norm of its weights that mask kept, the best channels are kept dense
("refilled") and the others go entirely. Which layers may lose channels, how
many go per round (`prune.rate` counts channels, global or per layer, each
layer keeps one), residual ties, and the random-mask control (as many live
channels per layer, at random) are those of `channels`: this is
`lth_tf.core.masks.channels.prune` with the unstructured mask as the one its
scores read, so a round reaches exactly the channel sparsity `channels` plans.
The unstructured pass runs over every masked layer as `weights` would; layers
whose channels stay whole (residual ties, the logits) only shape its threshold
under the global scope and keep their masks, as with `channels`. How many
channels stay is `channels`' plan (prune.rate counts channels), not derived
from the unstructured mask's weight count, so refill and channels runs compare
at equal channel sparsity.

Why the L1 norm of the kept weights: it ranks a channel by the magnitude that
survived unstructured pruning, as the paper's refill does, so a channel with a
few large weights beats one with many small ones; the count of kept weights
alone ties often (channels entirely kept, or entirely emptied). Within a layer
it ranks as the L1 norm; divided by the channel's weight count (as `channels`
scores) it also compares layers of different fan-in under the global scope.
Removed channels stay removed: only channels alive in the current mask compete.
"""

from __future__ import annotations

from lth_tf.core import masks as M
from lth_tf.core.criteria.channel_l1 import ChannelL1, plan_of
from lth_tf.core.masks import channels as CH


class Refill(ChannelL1):
    name = "refill"
    help = ("IMP-Refill (Chen et al. 2022): magnitude pruning's mask, then whole channels "
            "by the L1 norm it kept; rate then counts channels")

    def prune(self, kernels, masks, rate, step):
        unstructured = M.prune(kernels, masks, rate, step.scope, None, step.exclude)
        return CH.prune(kernels, masks, plan_of(step), rate, step.scope, step.exclude, score_masks=unstructured)

    def prune_to(self, kernels, masks, target, step):
        unstructured = M.prune_to_sparsity(kernels, masks, target, step.scope, None, step.exclude)
        return CH.prune_to_fraction(
            kernels, masks, plan_of(step), target, step.scope, step.exclude, score_masks=unstructured
        )

    # random_masks: ChannelL1's (per layer as many live channels, at random positions)


CRITERION = Refill()
