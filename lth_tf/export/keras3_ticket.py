"""A round's ticket in the user's own Keras 3: `TicketSearch.ticket_model()` and `--format keras`.

A run whose model came from Keras 3 (a `keras.Model` given to `TicketSearch`, a
`file:` model Keras 3 saved, a `py:` factory returning a Keras 3 model) trains its
tf_keras translation. `as_keras3(search, wrapped)` gives a round back in the user's
architecture (`lth_tf.keras_side.keras3.back.to_keras3`: the user's layers, names
and head, every weight from the tf_keras ticket, pruned weights exactly 0); `write`
saves it as `model.keras` in an export folder, which `keras.saving.load_model` opens
with only TensorFlow and Keras installed (custom layers: the user's module that
registers them). A model ending in softmax returns probabilities, as the user's did
(the tf_keras ticket and the SavedModel formats return logits); the marker says which.

Example:

```python
ticket3 = as_keras3(search, search.model_for_round(2))   # a keras.Model (None: a tf_keras run)
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lth_tf.export import KERAS_FILE
from lth_tf.keras_side import pruning as P
from lth_tf.keras_side.keras3 import back, detect


def user_keras3(search: Any) -> Any | None:
    """The Keras 3 model the run's model was translated from, or None for a tf_keras model."""
    return search.user_model().keras3


def as_keras3(search: Any, wrapped: Any) -> Any | None:
    """A round's wrapped model as the user's Keras 3 model, or None for a run of a tf_keras model."""
    like = user_keras3(search)
    return None if like is None else back.to_keras3(P.strip(wrapped), like=like)


def write(model3: Any, data: Any, folder: Path) -> dict[str, Any]:
    """Save `model3` as KERAS_FILE in `folder`; returns the marker's description."""
    k3 = detect.loaded_keras3()
    folder.mkdir(parents=True, exist_ok=True)
    model3.save(folder / KERAS_FILE)
    mean, std = getattr(data, "mean", None), getattr(data, "std", None)
    names = [str(n) for n in getattr(data, "class_names", ()) or ()]
    output = "probabilities" if back.ends_in_softmax(model3) else "logits"
    return {
        "format": "Keras",
        "file": KERAS_FILE,
        "keras_version": k3.__version__,
        "load": f'keras.saving.load_model("{KERAS_FILE}")',
        "inputs": {t.name: f"{_dtype(t)} {_shape(t)}" for t in model3.inputs},
        "outputs": {output: f"{_dtype(model3.outputs[0])} {_shape(model3.outputs[0])}"},
        "normalization": None if mean is None else {
            "mean": [float(m) for m in np.ravel(mean)],
            "std": [float(s) for s in np.ravel(std)],
            "scale": "0..255, per channel: the model takes (pixels - mean) / std",
        },
        "class_names": names or None,
    }


def usage(path: str | Path) -> list[str]:
    """Three lines of Python that load the export and predict."""
    return [
        "import keras  # Keras 3; import the module registering any custom layers first",
        f'model = keras.saving.load_model("{Path(path) / KERAS_FILE}")',
        "model.predict(x)",
    ]


def report(exported: Any) -> list[str]:
    """`lth-tf export`'s lines: the file's size, the pruned weights, what it outputs."""
    from lth_tf.export import gzip_size

    path = Path(exported.path)
    masks = P.get_masks(exported.wrapped)
    pruned = sum(int(np.sum(m == 0)) for m in masks.values())
    total = sum(int(m.size) for m in masks.values())
    output = "probabilities (the model's softmax head)" if back.ends_in_softmax(exported.model) else "logits"
    size = (path / KERAS_FILE).stat().st_size
    share = 100 * pruned / max(1, total)
    return [
        f"{'keras:':8s} {size / 1e6:.3f} MB raw, {gzip_size(path) / 1e6:.3f} MB gzip  ({path / KERAS_FILE})",
        f"{'':8s} pruned weights exactly 0: {pruned:,} of {total:,} ({share:.2f}%); outputs {output}",
    ]


def _dtype(t: Any) -> str:
    return str(getattr(t.dtype, "name", t.dtype))


def _shape(t: Any) -> str:
    return "(" + ", ".join("N" if i == 0 else str(s) for i, s in enumerate(tuple(t.shape))) + ")"
