"""`keras`: a Keras 3 model's ticket as the user's own Keras 3 model, a `.keras` file
(lth_tf/export/keras3_ticket.py).

The export is a folder, as for tflite: `model.keras` (the user's architecture and
head, the ticket's weights, pruned weights exactly 0) and the marker. It opens with
`keras.saving.load_model` where only TensorFlow and Keras are installed. Only runs of a
Keras 3 model have one: a tf_keras model (lth_tf's own, a tf_keras file or factory) is
refused with one line, before TensorFlow loads where the config tells (a `file:` model
records which Keras saved it); the SavedModel formats serve those.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lth_tf.core import sources
from lth_tf.core.errors import LthError
from lth_tf.export import MARKER_FILE
from lth_tf.export.formats.base import Exported, ExportFormat

SUFFIXES = (".keras", ".h5")


class Keras(ExportFormat):
    name = "keras"
    help = "the ticket as your own Keras 3 model, a .keras file (Keras 3 models only)"

    def refusal(self, exp: Any) -> str:
        name = exp.model.name
        if sources.split(name)[0] == sources.PY:
            return ""  # which Keras the factory returns is known when it runs
        if sources.split(name)[0] == sources.FILE:
            path = Path(sources.split(name)[1]).expanduser()
            if not path.is_file() or sources.saved_by_keras3(path):
                return ""  # a missing file is the model loader's error
        return not_keras3(name)

    def out_refusal(self, path: Path) -> str:
        if Path(path).suffix in SUFFIXES:
            return (
                f"writes a folder holding model.keras and {MARKER_FILE}, not a {Path(path).suffix} file; "
                f"give a folder name (e.g. {Path(path).with_suffix('')})"
            )
        return ""

    def model(self, wrapped, search):
        from lth_tf.export import keras3_ticket

        model3 = keras3_ticket.as_keras3(search, wrapped)
        if model3 is None:
            raise LthError(f"--format keras {not_keras3(search.exp.model.name)}")
        return model3, None

    def writer(self, model, data, pruned, threshold):
        from lth_tf.export import keras3_ticket

        return lambda new: keras3_ticket.write(model, data, new)

    def cost(self, model, data):
        return None  # a Keras 3 model: lth_tf counts MACs of tf_keras models (the dense export has them)

    def latency(self, folder, data):
        from lth_tf.export import latency

        return latency.skipped("the keras format is not timed (a Keras 3 file; the dense export of "
                               "the same round is, and computes the same)")

    def report(self, exported: Exported) -> list[str]:
        from lth_tf.export import keras3_ticket

        return keras3_ticket.report(exported)


def not_keras3(model_name: str) -> str:
    """Why --format keras refuses a run of a tf_keras model, and what to use instead."""
    return (
        f"gives a Keras 3 model's ticket back as .keras, and this run's model '{model_name}' is a "
        "tf_keras model; use --format dense (a SavedModel that TensorFlow and tf_keras load)"
    )


FORMAT = Keras()
