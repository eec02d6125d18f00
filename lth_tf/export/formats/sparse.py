"""`sparse`: pruned kernels stored without their zeros, rebuilt in the graph (lth_tf/export/sparse.py).

`tf.saved_model.load` only; the marker's `weights` gives the size bound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lth_tf.export.formats.base import ExportFormat


class Sparse(ExportFormat):
    name = "sparse"
    help = "pruned kernels stored without their zeros (tf.saved_model.load only)"
    compare_latency = True  # it computes differently from the dense model (sparse matmuls, rebuilt kernels)

    def model(self, wrapped, search):
        from lth_tf.export import sparse

        plain, _ = super().model(wrapped, search)
        return plain, sparse.pruned_weights(wrapped, plain)

    def writer(self, model, data, pruned, threshold):
        from lth_tf.export import sparse
        from lth_tf.platform.backend import tf

        threshold = sparse.DEFAULT_THRESHOLD if threshold is None else threshold
        module, signatures, described = sparse.build(model, data, pruned, threshold)

        def write(new: Path) -> dict[str, Any]:
            tf.saved_model.save(module, str(new), signatures=signatures)
            return described

        return write


FORMAT = Sparse()
