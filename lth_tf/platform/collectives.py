"""Collectives between the workers of a multi_worker run: sums and broadcasts of numpy arrays.

They run through the run's strategy (`Platform.strategy`, passed in), so every
worker calls them at the same point of the run.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def all_reduce_sum(strategy: Any, array: np.ndarray, first_only: bool = False) -> np.ndarray:
    """The sum of `array` over all replicas of `strategy` (with `first_only`: replica 0's value, a broadcast)."""
    from lth_tf.platform.backend import tf

    value = tf.constant(array)

    def fn():  # eager: nothing to trace (a traced one is stale after clear_session)
        ctx = tf.distribute.get_replica_context()
        x = value
        if first_only:
            x = x * tf.cast(tf.equal(ctx.replica_id_in_sync_group, 0), x.dtype)
        return ctx.all_reduce(tf.distribute.ReduceOp.SUM, x)

    return strategy.experimental_local_results(strategy.run(fn))[0].numpy()


def broadcast(strategy: Any, array: np.ndarray) -> np.ndarray:
    """The chief's `array` (every worker passes one of the same shape and dtype)."""
    return all_reduce_sum(strategy, array, first_only=True)


def broadcast_bytes(strategy: Any, payload: bytes) -> bytes:
    """The chief's `payload` on every worker (the others pass anything, e.g. b"")."""
    size = int(broadcast(strategy, np.array([len(payload)], np.int64))[0])
    words = np.zeros((size + 7) // 8, np.int64)
    if len(payload) == size:
        words.view(np.uint8)[:size] = np.frombuffer(payload, np.uint8)
    return broadcast(strategy, words).view(np.uint8)[:size].tobytes()
