"""A Keras 3 model as the equivalent tf_keras model, checked on a batch.

`translate(model3)` rewrites the model's config for tf_keras (`configs.py`),
builds it, copies the weights layer by layer (`weights.py`) and runs both
models on a deterministic batch (`check.py`): the outputs must agree within
`atol` (1e-5; relative for outputs below 1, see `check.agree`), else one
LthError names the first layer whose output differs.
`to_tf_keras(model3)` is the same, returning the model alone.

Example:

```python
import keras
from lth_tf.keras_side.keras3.translate import translate

model3 = keras.applications.MobileNetV2(alpha=0.35, weights=None, input_shape=(32, 32, 3), classes=3)
t = translate(model3)        # t.model: a tf_keras Model; t.notes; t.difference
```
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from lth_tf.core.errors import LthError
from lth_tf.keras_side.keras3 import check, configs, detect, nested, twins, weights
from lth_tf.keras_side.models.checks import one_line, subclassed_refusal
from lth_tf.platform.backend import keras

ATOL = 1e-5
# A model on Keras' jax or torch backend is compared with its translation on
# TensorFlow: other kernels, so float noise of 1e-5..1e-4 (ResNet50) is expected.
OTHER_BACKEND_ATOL = 1e-3


@dataclass(frozen=True)
class Translation:
    """A tf_keras model computing what a Keras 3 model does."""

    model: Any  # tf_keras Model
    notes: tuple[str, ...]  # what the translation changed (arguments dropped, ...)
    difference: float  # largest absolute output difference on the check batch
    source: Any = None  # the Keras 3 model translated: the user's, or a built clone of an unbuilt Sequential


def translate(
    model3: Any,
    sample: list[np.ndarray] | None = None,
    atol: float | None = None,
    label: str | None = None,
    input_shape: tuple | None = None,
) -> Translation:
    """The tf_keras twin of a Keras 3 functional or Sequential model, checked on `sample`.

    Args:
        model3: a Keras 3 model (`import keras`, or `tf.keras` under TensorFlow >= 2.16).
        sample: inputs to compare the two models on (default: `check.sample_batch`).
        atol: largest output difference accepted (see `check.agree`); default ATOL, or
            OTHER_BACKEND_ATOL when Keras runs on another backend than TensorFlow.
        label: how errors name the model (default: "model '<name>'").
        input_shape: builds an unbuilt Sequential model (a clone; the user's object is untouched).
    """
    label = label or f"model '{getattr(model3, 'name', '?')}'"
    what = detect.kind(model3)
    if what == "keras3_subclassed":
        raise subclassed_refusal(model3, label)
    if what != "keras3":
        raise LthError(f"{label} is a {type(model3).__name__}, not a Keras 3 model; pass a keras.Model")
    model3 = _built(model3, label, input_shape)
    backend = detect.loaded_keras3().backend.backend()
    if atol is None:
        atol = ATOL if backend == "tensorflow" else OTHER_BACKEND_ATOL
    sequential = isinstance(model3, detect.loaded_keras3().Sequential)
    class_name = "Sequential" if sequential else "Functional"
    translator = configs.Translator(twins.resolve, defaults=_keras3_defaults)
    config3 = plain(model3.get_config())
    if sequential and any(nested.is_nested_model(e) for e in config3["layers"]):
        config3, class_name, sequential = nested.sequential_as_functional(config3), "Functional", False
    config = translator.model(class_name, config3)
    try:
        with keras.utils.custom_object_scope(translator.custom_objects):
            cls = keras.Sequential if sequential else keras.Model
            model2 = cls.from_config(config)
    except LthError:
        raise
    except Exception as e:  # noqa: BLE001 - a layer tf_keras cannot build from the config
        backend = detect.loaded_keras3().backend.backend()
        rebased = sorted(k for k, c in translator.custom_objects.items() if twins.is_rebased(c))
        hint = (
            f"; custom layers ({', '.join(rebased)}) run keras.ops on the {backend} backend, which "
            "tf_keras cannot call: register tf_keras twins or use KERAS_BACKEND=tensorflow"
            if rebased and backend != "tensorflow"
            else ""
        )
        raise LthError(
            f"{label}: tf_keras cannot build the translated model ({one_line(e)}); "
            f"replace the layer it names, or register a tf_keras twin for it{hint}"
        ) from None
    weights.copy(model3, model2)
    x = sample if sample is not None else check.sample_batch(model3)
    difference, scale = check.compare(model3, model2, x)
    if not check.agree(difference, scale, atol):
        raise _difference_error(model3, model2, x, atol, difference, label)
    notes = list(translator.notes)
    if backend != "tensorflow":
        notes.append(f"checked at atol {atol:g}: the model runs on Keras' {backend} backend, its translation on TensorFlow")
    return Translation(model2, tuple(notes), difference, model3)


def to_tf_keras(model3: Any, sample: list[np.ndarray] | None = None, atol: float | None = None) -> Any:
    """The checked tf_keras twin of a Keras 3 model (see `translate`)."""
    return translate(model3, sample=sample, atol=atol).model


def plain(value: Any) -> Any:
    """A config with tuples as lists (Keras 3 configs mix them; JSON would make lists)."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def unfused(model2: Any) -> Any:
    """A copy of a tf_keras model whose BatchNormalization layers run unfused (Keras 3's ops).

    tf_keras' BatchNormalization.get_config leaves `fused` out, so a clone made by
    anything but lth_tf (tfmot's `strip_pruning`, a plain `clone_model`) runs the
    fused kernel again: outputs then differ from Keras 3 by float rounding (up to
    1e-5 after 50 layers). lth_tf's own clones keep it (`lth_tf.keras_side.clone`);
    this copy computes exactly what Keras 3 does whatever made `model2`.
    """

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if isinstance(layer, keras.layers.BatchNormalization):
            config["fused"] = False
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model2, clone_function=clone)
    copy.set_weights(model2.get_weights())
    return copy


def _built(model3: Any, label: str, input_shape: tuple | None) -> Any:
    k3 = detect.loaded_keras3()
    if model3.built and model3.inputs:
        return model3
    if isinstance(model3, k3.Sequential) and input_shape is not None:
        clone = k3.models.clone_model(model3)  # unbuilt: it holds no weights yet
        clone.build((None, *input_shape))
        return clone
    raise LthError(
        f"{label} is not built; give it an Input (keras.Input(shape)) so its shapes are known"
    )


def _difference_error(model3: Any, model2: Any, x: list, atol: float, difference: float, label: str) -> LthError:
    first = check.first_difference(model3, model2, x, atol)
    where = (
        f"first at layer '{first[0]}' ({first[1]}, {first[2]:.3g})"
        if first
        else "in no single layer output (the difference builds up)"
    )
    return LthError(
        f"{label}: the tf_keras translation's outputs differ by {difference:.3g} (atol {atol:g}), "
        f"{where}; replace that layer or register a tf_keras twin for it"
    )


@cache
def _keras3_defaults(class_name: str) -> dict[str, Any]:
    """Keras 3's constructor defaults of a built-in layer (to note only real changes)."""
    cls = getattr(detect.loaded_keras3().layers, class_name, None)
    if cls is None:
        return {}
    try:
        params = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
