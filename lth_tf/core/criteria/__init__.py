"""Pruning criteria: which weights a pruning step removes (`prune.structure`).

A registry as in open_lth: `CRITERIA` maps each `prune.structure` value to its
criterion object (lth_tf/core/criteria/base.py: `prune`, `prune_to`,
`random_masks`, and `channels`), `get(name)` looks one up. Pure numpy, never
TensorFlow: config validation takes the accepted names from here.

    from lth_tf.core import criteria
    crit = criteria.get("random")
    masks = crit.prune(kernels, masks, rate=0.2, step=criteria.Step(seed=0, round=1))

A new criterion is one module here (a `Criterion` subclass and its instance)
plus one line below; CONTRIBUTING.md says what to test.
"""

from lth_tf.core.criteria import channel_l1, magnitude, random_pruning, refill
from lth_tf.core.criteria.base import Criterion, Step

CRITERIA: dict[str, Criterion] = {
    c.name: c
    for c in (
        magnitude.CRITERION,  # weights
        channel_l1.CRITERION,  # channels
        random_pruning.CRITERION,  # random
        refill.CRITERION,  # refill
    )
}
NAMES = tuple(CRITERIA)


def get(name: str) -> Criterion:
    """The criterion `prune.structure = name` selects; ValueError for an unknown name."""
    try:
        return CRITERIA[name]
    except KeyError:
        raise ValueError(f"No such pruning criterion: {name!r}; use one of {', '.join(NAMES)}") from None


__all__ = ["CRITERIA", "NAMES", "Criterion", "Step", "get"]
