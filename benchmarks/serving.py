"""Exports of a stripped model in each kind the efficiency benchmarks compare, and their latency.

Shared by benchmarks/efficiency.py and benchmarks/narrow_latency.py.
"""

from __future__ import annotations

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
    round) so that load from other processes falls on every kind alike: the clock loop of
    the export marker's latency (lth_tf/export/latency.py), with a fixed count, no budget."""
    from lth_tf.export import latency
    from lth_tf.platform.backend import tf

    fns = {kind: tf.saved_model.load(str(path)).signatures[signature] for kind, path in paths.items()}
    calls_of = {kind: (lambda fn=fn: fn(**feeds)["logits"].numpy()) for kind, fn in fns.items()}
    return latency.medians(latency.interleaved(calls_of, budget=None, warmup=warmup, max_calls=calls))
