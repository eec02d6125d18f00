"""Masks agree everywhere: after each round, every replica and worker must hold the same masks.

Masks are computed on every worker from the same stored weights with the same
numpy rule; `check_masks` proves it: the digest of every local replica's mask
variables must be equal, and (multi_worker) equal to the chief's.
"""

from __future__ import annotations

import logging

import numpy as np

from lth_tf.core.errors import LthError
from lth_tf.core.masks import mask_digest
from lth_tf.keras_side import pruning as P
from lth_tf.platform.platform import Platform

log = logging.getLogger(__name__)


def check_masks(wrapped, round_: int, platform: Platform) -> dict[str, str]:
    """{"mask_digest": d} after proving every replica and worker holds the same masks; {} for default."""
    if not platform.spec.distributed:
        return {}
    slots = P.pruned_variables(wrapped)
    n = len(getattr(next(iter(slots.values()))[1], "values", [None]))
    per_replica = [
        mask_digest({k: _component(mask, i) for k, (_w, mask) in slots.items()}) for i in range(n)
    ]
    if len(set(per_replica)) != 1:
        raise LthError(f"round {round_}: the replicas of this worker hold different masks {per_replica}; "
                       "rerun with train.strategy=default and report it")
    digest = per_replica[0]
    if platform.spec.kind == "multi_worker":
        from lth_tf.platform.collectives import all_reduce_sum, broadcast

        chief = int(broadcast(platform.strategy, np.array([int(digest[:15], 16)], np.int64))[0])
        differ = all_reduce_sum(platform.strategy, np.array([int(chief != int(digest[:15], 16))], np.int64))[0]
        if differ:
            raise LthError(f"round {round_}: {differ} worker(s) hold masks that differ from the chief's; "
                           "check that every worker runs the same code and config")
    place = platform.placement
    log.info("%s-%d round %d mask digest %s", place.task_type, place.task_index, round_, digest)
    return {"mask_digest": digest}


def _component(var, i: int) -> np.ndarray:
    values = getattr(var, "values", None)
    return (values[i] if values is not None else var).numpy()
