"""`tflite`: a .tflite model with sparse weights, and the marker (lth_tf/export/tflite.py)."""

from __future__ import annotations

from lth_tf.export.formats.base import ExportFormat


class TFLite(ExportFormat):
    name = "tflite"
    help = (
        "a TFLite model with sparse weights (image models; "
        "smaller file; on x86 the same speed: XNNPACK computes it dense)"
    )
    graph_refusal = "takes image models (TFLite has no sparse graph inputs); use --format sparse for a GCN"

    def writer(self, model, data, pruned, threshold):
        from lth_tf.export import tflite

        return lambda new: tflite.write(model, data, new)

    def latency(self, folder, data):
        from lth_tf.export import latency

        return latency.measure_tflite(folder)


FORMAT = TFLite()
