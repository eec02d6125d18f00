"""Export a ticket: a plain tf_keras model (wrappers stripped) as a SavedModel.

The SavedModel loads with `tf.saved_model.load` and `tf_keras.models.load_model`
in a process that never imported lth_tf.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from lth_tf._keras import keras  # noqa: F401  (arranges Keras 2 before TF loads)


def export_savedmodel(model, path: str | Path) -> Path:
    """Write `model` as a SavedModel at `path`, replacing an older export atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    model.save(str(tmp / "model"), save_format="tf", include_optimizer=False)
    if path.exists():
        shutil.rmtree(path)
    (tmp / "model").rename(path)
    shutil.rmtree(tmp, ignore_errors=True)
    return path
