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

Which Keras wrote a saved `.keras` or `.h5` file is `lth_tf.core.sources.saved_by_keras3`
(no TensorFlow: the CLI asks before TensorFlow loads).
"""

from __future__ import annotations

import sys
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
    # Keras 3 has no public name for its functional class; keras.Model loaded it. Sequential subclasses it.
    functional = getattr(sys.modules.get("keras.src.models.functional"), "Functional", k3.Sequential)
    return isinstance(model, (functional, k3.Sequential))


def kind(obj: object) -> str:
    """One of KINDS, by type alone."""
    if is_keras3(obj):
        return "keras3" if is_graph_model(obj) else "keras3_subclassed"
    if isinstance(obj, keras.Model):
        return "tf_keras"
    return "factory" if callable(obj) else "other"


def reset_layer_names() -> None:
    """Start Keras 3's automatic layer names again (`dense`, `dense_1`, ...), if Keras 3 is loaded.

    What tf_keras' `clear_session` does for its names, without Keras 3's
    `clear_session`, which would also reset TensorFlow's default graph and with it
    the distribution strategy the engine entered. Keras 3 keeps the counter in
    `keras.src.utils.naming` (no public name); a Keras without it keeps its names.
    """
    naming = sys.modules.get("keras.src.utils.naming")
    reset = getattr(naming, "reset_uids", None)
    if loaded_keras3() is not None and callable(reset):
        reset()
