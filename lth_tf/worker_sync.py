"""Collectives between the workers of a multi_worker run: broadcast and the run-dir sync.

Split from lth_tf/distribute.py (which makes the strategy): these run through the
strategy `distribute.setup` made, so every worker calls them at the same point.
"""

from __future__ import annotations

import io
import logging
import shutil
import tarfile
from pathlib import Path

import numpy as np

from lth_tf import distribute

log = logging.getLogger(__name__)


def all_reduce_sum(array: np.ndarray, first_only: bool = False) -> np.ndarray:
    """The sum of `array` over all replicas (with `first_only`: replica 0's value, a broadcast)."""
    from lth_tf._keras import tf

    strategy = distribute.current()
    value = tf.constant(array)

    def fn():  # eager: nothing to trace (a traced one is stale after clear_session)
        ctx = tf.distribute.get_replica_context()
        x = value
        if first_only:
            x = x * tf.cast(tf.equal(ctx.replica_id_in_sync_group, 0), x.dtype)
        return ctx.all_reduce(tf.distribute.ReduceOp.SUM, x)

    return strategy.experimental_local_results(strategy.run(fn))[0].numpy()


def broadcast(array: np.ndarray) -> np.ndarray:
    """The chief's `array` (every worker passes one of the same shape and dtype)."""
    return all_reduce_sum(array, first_only=True)


def broadcast_bytes(payload: bytes) -> bytes:
    """The chief's `payload` on every worker (the others pass anything, e.g. b"")."""
    size = int(broadcast(np.array([len(payload)], np.int64))[0])
    words = np.zeros((size + 7) // 8, np.int64)
    if len(payload) == size:
        words.view(np.uint8)[:size] = np.frombuffer(payload, np.uint8)
    return broadcast(words).view(np.uint8)[:size].tobytes()


def sync_run_dir(run_dir: Path) -> None:
    """Give every worker the chief's stored rounds, controls and rewind point (multi_worker only).

    The chief packs them; the others replace theirs with the chief's, so all
    workers resume from the same round with the same weights and masks.
    """
    if distribute.spec().kind != "multi_worker":
        return
    from lth_tf import rundir

    run_dir = Path(run_dir)
    parts = [rundir.rounds_dir(run_dir), rundir.controls_dir(run_dir), rundir.rewind_path(run_dir)]
    chief = distribute.is_chief(distribute.spec())
    buf = io.BytesIO()
    if chief:
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for p in parts:
                if p.exists():
                    tar.add(p, arcname=p.relative_to(run_dir).as_posix(), filter=_no_temp)
    received = broadcast_bytes(buf.getvalue() if chief else b"")
    if chief:
        return
    for p in parts:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    with tarfile.open(fileobj=io.BytesIO(received), mode="r") as tar:
        tar.extractall(run_dir, filter="data")
    log.info("worker copy %s holds the chief's rounds %s", run_dir, rundir.completed_rounds(run_dir))


def _no_temp(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Leave out temporary files of killed writers (dot names, see atomic.py)."""
    return None if any(part.startswith(".") for part in Path(info.name).parts) else info
