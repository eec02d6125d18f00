"""A tf_keras model's weights given back in the user's Keras 3 architecture.

`to_keras3(model2, like=model3)` rebuilds the user's model from its own Keras 3
config (`like.get_config()`: their layer classes, names and head, softmax
included; `keras.models.clone_model` where Keras 3 cannot read its own config)
and copies every weight from the tf_keras namesake layer: a ticket's pruned
weights arrive exactly zero. What it returns is what the user's model returns:
for a model ending in softmax (which lth_tf trained as logits, the tf_keras model's
output), the probabilities, softmax of the tf_keras ticket's logits
(`ends_in_softmax`). It then checks both models on a batch: the
outputs agree within `atol`, or, when lth_tf trained the model on logits (a
softmax head made linear), the Keras 3 outputs agree with softmax(logits). The
tf_keras side is run with unfused BatchNorm (`translate.unfused`), so the check
is of the weights, not of tf_keras' fused kernel's rounding.

`model2` must be a plain model (pruning wrappers stripped: tfmot's
`strip_pruning`, or lth_tf's `keras_side.pruning.strip`).

Example:

```python
ticket3 = to_keras3(ticket2, like=model3)
ticket3.save("ticket.keras")   # opens with keras.saving.load_model, no lth_tf needed
```
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lth_tf.core.errors import LthError
from lth_tf.keras_side.keras3 import check, detect, weights
from lth_tf.keras_side.keras3.translate import ATOL, OTHER_BACKEND_ATOL, unfused
from lth_tf.keras_side.models.checks import one_line, subclassed_refusal


def rebuilt(like: Any, label: str) -> Any:
    """A new Keras 3 model from `like`'s config (its own layer classes and names)."""
    what = detect.kind(like)
    if what == "keras3_subclassed":
        raise subclassed_refusal(like, label)
    if what != "keras3":
        raise LthError(f"{label}: `like` is a {type(like).__name__}; pass the user's Keras 3 model")
    k3 = detect.loaded_keras3()
    live = {k3.saving.get_registered_name(type(layer)): type(layer) for layer in check.all_layers(like)}
    try:
        with k3.saving.custom_object_scope(live):
            try:
                return type(like).from_config(like.get_config())
            except ValueError:
                # Keras 3.15 cannot call an operation with a constant (x + 3.0, as in
                # MobileNetV3) from a config; clone_model re-runs the graph instead,
                # on inputs named as the user's.
                return k3.models.clone_model(like, input_tensors=_inputs_like(k3, like))
    except Exception as e:  # noqa: BLE001 - the user's classes may raise anything
        raise LthError(
            f"{label}: Keras 3 cannot rebuild the model from its config ({one_line(e)}); "
            "give its custom layers get_config() and register them"
        ) from None


def _inputs_like(k3: Any, model: Any) -> list[Any]:
    spec = model.get_config().get("input_layers") or []
    names = [spec[0]] if spec and isinstance(spec[0], str) else [ref[0] for ref in spec]
    if len(names) != len(model.inputs):
        names = [None] * len(model.inputs)
    tensors = [
        k3.Input(batch_shape=tuple(t.shape), dtype=t.dtype, name=name) for t, name in zip(model.inputs, names)
    ]
    return tensors if len(tensors) > 1 else tensors[0]


def to_keras3(
    model2: Any,
    like: Any,
    sample: list[np.ndarray] | None = None,
    atol: float | None = None,
    label: str | None = None,
) -> Any:
    """The Keras 3 model `like` holding `model2`'s weights, checked on a batch (atol as `translate`)."""
    label = label or f"model '{getattr(like, 'name', '?')}'"
    model3 = rebuilt(like, label)
    if atol is None:
        atol = ATOL if detect.loaded_keras3().backend.backend() == "tensorflow" else OTHER_BACKEND_ATOL
    weights.copy(model2, model3, strict=True)
    x = sample if sample is not None else check.sample_batch(model3)
    # unfused: the check is of the weights copied, not of tf_keras' fused BatchNorm kernel
    y2, y3 = check.outputs(unfused(model2), x), check.outputs(model3, x)
    if not (_close(y2, y3, atol) or _close([_softmax(y) for y in y2], y3, atol)):
        raise LthError(
            f"{label}: the Keras 3 model with the tf_keras weights computes other outputs "
            f"(atol {atol:g}); give the Keras 3 model the tf_keras model was translated from"
        )
    return model3


def ends_in_softmax(model3: Any) -> bool:
    """True when a Keras 3 model's output is a softmax (its last layer's activation, or a
    Softmax / Activation("softmax") layer): its ticket then returns probabilities, not logits."""
    last = model3.layers[-1] if model3.layers else None
    while hasattr(last, "layers") and last.layers:  # a nested model at the end
        last = last.layers[-1]
    if type(last).__name__ == "Softmax":
        return True
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", None) == "softmax"


def _close(a: list[np.ndarray], b: list[np.ndarray], atol: float) -> bool:
    """`check.agree` over every output pair (`a` the reference)."""
    if len(a) != len(b) or any(p.shape != q.shape for p, q in zip(a, b)):
        return False
    return all(
        check.agree(float(np.max(np.abs(p - q))), float(np.max(np.abs(p))), atol) for p, q in zip(a, b) if p.size
    )


def _softmax(y: np.ndarray) -> np.ndarray:
    e = np.exp(y - y.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
