"""Exports of a stripped model in each kind the efficiency benchmarks compare, and their latency.

Shared by benchmarks/efficiency.py and benchmarks/narrow_latency.py.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


# -- export kinds: (stripped model, pruned variables, data, path) -> path ------------------------
def export_dense(plain, pruned, data, path: Path) -> Path:
    from lth_tf.export import export_savedmodel

    return export_savedmodel(plain, path, data)


def export_sparse(plain, pruned, data, path: Path) -> Path:
    from lth_tf.export import export_savedmodel

    return export_savedmodel(plain, path, data, format="sparse", pruned=pruned)


def export_sparse_rebuild(plain, pruned, data, path: Path) -> Path:
    from lth_tf.export import export_savedmodel

    return export_savedmodel(plain, path, data, format="sparse", pruned=pruned, sparse_threshold=2.0)


EXPORTS: dict[str, Callable[..., Path]] = {
    "dense": export_dense,
    "sparse": export_sparse,
    "sparse_rebuild": export_sparse_rebuild,
}


def latencies(paths: dict[str, Path], signature: str, feeds: dict[str, Any], calls: int,
               warmup: int = 3) -> dict[str, float]:
    """Median seconds per call of each export; calls interleaved (kind by kind, round by
    round) so that load from other processes falls on every kind alike."""
    from lth_tf.platform.backend import tf

    fns = {kind: tf.saved_model.load(str(path)).signatures[signature] for kind, path in paths.items()}
    times: dict[str, list[float]] = {kind: [] for kind in fns}
    for i in range(warmup + calls):
        for kind, fn in fns.items():
            t0 = time.perf_counter()
            fn(**feeds)["logits"].numpy()
            if i >= warmup:
                times[kind].append(time.perf_counter() - t0)
    return {kind: statistics.median(t) for kind, t in times.items()}
