"""What a user handed us, told by type (a model is never called to find out).

`kind(obj)` is one of:

- `"keras3"`: a Keras 3 functional or Sequential model (`import keras`, or
  `tf.keras` in a process where TensorFlow was imported before lth_tf, so that
  `tf.keras` is Keras 3);
- `"keras3_subclassed"`: any other Keras 3 Model (a subclass with its own `call`);
- `"tf_keras"`: a tf_keras (Keras 2) Model, the Keras lth_tf trains;
- `"factory"`: anything else that is callable (a function `seed -> Model`);
- `"other"`.

Keras 3 is never imported here: an object can only be a Keras 3 model if the
`keras` package is already loaded, so `sys.modules` answers without loading it.

`saved_keras_version(path)` reads which Keras wrote a `.keras` or `.h5` file
(zip/JSON and HDF5 attributes only, no TensorFlow), so a `file:` model is
loaded by the Keras that can read it.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

from lth_tf.platform.backend import keras

KINDS = ("keras3", "keras3_subclassed", "tf_keras", "factory", "other")


def loaded_keras3() -> Any | None:
    """The Keras 3 module if this process has imported it, else None (nothing is imported)."""
    module = sys.modules.get("keras")
    version = str(getattr(module, "__version__", ""))
    return module if version.startswith("3.") else None


def is_keras3(obj: object) -> bool:
    """True for any Keras 3 Model instance (functional, Sequential or subclassed)."""
    k3 = loaded_keras3()
    return k3 is not None and isinstance(obj, k3.Model)


def is_graph_model(model: object) -> bool:
    """True for a Keras 3 functional or Sequential model (it has a config to translate)."""
    k3 = loaded_keras3()
    if k3 is None or not isinstance(model, k3.Model):
        return False
    from keras.src.models.functional import Functional  # Sequential subclasses it

    return isinstance(model, (Functional, k3.Sequential))


def kind(obj: object) -> str:
    """One of KINDS, by type alone."""
    if is_keras3(obj):
        return "keras3" if is_graph_model(obj) else "keras3_subclassed"
    if isinstance(obj, keras.Model):
        return "tf_keras"
    return "factory" if callable(obj) else "other"


def saved_keras_version(path: Path) -> str | None:
    """The `keras_version` a `.keras` zip or `.h5` file records, or None if it names none."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                meta = json.loads(z.read("metadata.json"))
        except (KeyError, ValueError, OSError, zipfile.BadZipFile):
            return None
        version = meta.get("keras_version") if isinstance(meta, dict) else None
        return str(version) if version else None
    if path.is_file():
        try:
            import h5py
        except ImportError:  # pragma: no cover - h5py comes with TensorFlow
            return None
        try:
            with h5py.File(path, "r") as f:
                version = f.attrs.get("keras_version")
        except OSError:
            return None
        if isinstance(version, bytes):
            version = version.decode("utf-8", "replace")
        return str(version) if version else None
    return None


def saved_by_keras3(path: Path) -> bool:
    """True when Keras 3 wrote the file (load it with Keras 3, then translate)."""
    version = saved_keras_version(path)
    return version is not None and version.startswith("3.")
