"""`dense`: the Keras SavedModel, pruned kernels stored with their zeros.

Loads with `tf.saved_model.load` and `tf_keras.models.load_model`; the
serving signatures are lth_tf/export/signatures.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lth_tf.export.formats.base import Exported, ExportFormat


class Dense(ExportFormat):
    name = "dense"
    help = "Keras SavedModel"

    def writer(self, model, data, pruned, threshold):
        from lth_tf.export import exportable
        from lth_tf.export import signatures as sig

        model = exportable(model)
        signatures, described = sig.build(model, data)

        def write(new: Path) -> dict[str, Any]:
            model.save(str(new), save_format="tf", include_optimizer=False, signatures=signatures or None)
            return described

        return write

    def report(self, exported: Exported) -> list[str]:
        if exported.round != 0:
            return super().report(exported)
        from lth_tf.export import cost_report, size_report

        return [*size_report(exported.path, label="dense"), *cost_report(exported.path)]  # it is the dense model


FORMAT = Dense()
