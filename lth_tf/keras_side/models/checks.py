"""Checks a user's Keras model before anything trains, and turns a softmax head into logits.

`checked(model, input_shape, num_classes, label)` returns the model ready for
`lth_tf.keras_side.pruning.wrap` plus notes on what it changed, or raises a one-line
LthError naming the problem and the fix. What it accepts:

- functional and Sequential models; an unbuilt Sequential is built with the
  data's input shape. Subclassed models are refused: tfmot wraps layers by
  cloning the model from its config, which a subclassed model does not have.
- a first input whose shape (without the batch axis) matches the data's, with
  None for any size; exactly one output of shape (None, num_classes).
- no nested models (a Model used as a layer) and no pruning wrappers.
- a softmax or sigmoid at the end (lth_tf trains on logits, `from_logits=True`): a
  last layer with `activation="softmax"` or `"sigmoid"` (e.g. keras.applications'
  classifiers) gets a linear activation, same weights; a final `Softmax` or
  `Activation("softmax"/"sigmoid")` layer is dropped. Either is recorded in the
  notes. A head it cannot see (a `Lambda(tf.nn.softmax)`) is refused when the
  outputs on random inputs are probabilities (rows summing to 1, or all in [0, 1]).
  The model must be one the caller may change (a fresh load or a clone, never the
  user's own object).
"""

from __future__ import annotations

import numpy as np

from lth_tf.core.errors import LthError
from lth_tf.keras_side import pruning as P
from lth_tf.platform.backend import keras


def one_line(e: BaseException, limit: int = 200) -> str:
    """`Type: message` of an exception on one line, shortened to `limit` characters."""
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def subclassed_refusal(model: object, label: str) -> LthError:
    """The refusal of a subclassed model (of either Keras): one wording everywhere."""
    return LthError(
        f"{label} is a subclassed model ({type(model).__name__}); pruning clones the model "
        "from its config, so rebuild it as a functional or Sequential model"
    )


def checked(
    model: object, input_shape: tuple, num_classes: int, label: str
) -> tuple[keras.Model, list[str]]:
    """(model ready to wrap, notes on changes made) or LthError; `label` names the source."""
    if not isinstance(model, keras.Model):
        raise LthError(
            f"{label} gave a {type(model).__name__}, not a tf_keras Model; "
            "return a functional or Sequential tf_keras model (import tf_keras as keras)"
        )
    if isinstance(model, keras.Sequential) and not model.built:
        try:
            model.build((None, *input_shape))
        except Exception as e:  # noqa: BLE001 - any build failure is the user's model
            raise LthError(
                f"{label}: cannot build the Sequential model for input {tuple(input_shape)} "
                f"({one_line(e)}); give it an Input layer that fits the data"
            ) from None
    if not getattr(model, "_is_graph_network", False):
        raise subclassed_refusal(model, label)
    _check_layers(model, label)
    _check_shapes(model, input_shape, num_classes, label)
    model, notes = _logits(model, label)
    _check_not_probabilities(model, input_shape, label)
    return model, notes


def _check_layers(model: keras.Model, label: str) -> None:
    for layer in model.layers:
        if isinstance(layer, P.PruneLowMagnitude):
            raise LthError(
                f"{label} already holds pruning wrappers ({layer.name}); "
                "give the plain model (tfmot.sparsity.keras.strip_pruning)"
            )
        if isinstance(layer, keras.Model):
            raise LthError(
                f"{label} nests the model '{layer.name}' as a layer, which pruning cannot wrap; "
                "flatten it: build one functional model by calling its layers on your Input"
            )


def _fits(shape: tuple, wanted: tuple) -> bool:
    return len(shape) == len(wanted) and all(s is None or s == w for s, w in zip(shape, wanted))


def _check_shapes(model: keras.Model, input_shape: tuple, num_classes: int, label: str) -> None:
    got_in = tuple(model.inputs[0].shape[1:])
    if not _fits(got_in, tuple(input_shape)):
        raise LthError(
            f"{label} takes input of shape {got_in}, the data has {tuple(input_shape)}; "
            "give the model an Input of the data's shape (or resize the data)"
        )
    if len(model.outputs) != 1:
        raise LthError(
            f"{label} has {len(model.outputs)} outputs; give it one output of {num_classes} logits"
        )
    got_out = tuple(model.outputs[0].shape)
    if got_out[1:] != (num_classes,) or len(got_out) != 2:
        raise LthError(
            f"{label} outputs shape {got_out}, the data needs (None, {num_classes}); "
            f"end the model with Dense({num_classes}) on a flat input"
        )


def _is_softmax(fn: object) -> bool:
    return getattr(fn, "__name__", None) in _SQUASHES


# Final activations that turn logits into probabilities; lth_tf's losses take logits.
_SQUASHES = ("softmax", "sigmoid")


def _check_not_probabilities(model: keras.Model, input_shape: tuple, label: str) -> None:
    """Refuse a model whose outputs are probabilities after the known heads were made linear.

    A head `_logits` cannot see (a Lambda(tf.nn.softmax), a custom layer) shows in its
    outputs: on random inputs they all lie strictly inside (0, 1), or each row sums to 1.
    """
    if len(model.inputs) != 1 or model.outputs[0].shape[-1] in (None, 1):
        return
    if any(d is None for d in input_shape):
        return
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, *input_shape)).astype(model.inputs[0].dtype.name)
    try:
        y = np.asarray(model(x, training=False), dtype=np.float64)
    except Exception:  # noqa: BLE001 - inputs it cannot take (sparse, integer ids): no verdict
        return
    # Strictly inside (0, 1) and not constant: a softmax or sigmoid never gives exactly 0,
    # while a zero-initialised linear head gives all zeros and a ReLU head exact zeros.
    squashed = bool(y.min() > 0.0 and y.max() < 1.0 and y.std() > 1e-6)
    rows_sum_to_one = squashed and bool(np.allclose(y.sum(axis=-1), 1.0, atol=1e-3))
    in_unit_range = squashed
    if rows_sum_to_one or in_unit_range:
        last = model.layers[-1]
        kind = "sum to 1 like a softmax's" if rows_sum_to_one else "all lie in [0, 1] like a sigmoid's"
        raise LthError(
            f"{label}'s outputs {kind} (its last layer '{last.name}' is a {type(last).__name__} "
            "lth_tf cannot make linear); lth_tf trains on logits (from_logits=True): end the model "
            "with the Dense layer's output and no softmax or sigmoid after it"
        )


def _logits(model: keras.Model, label: str) -> tuple[keras.Model, list[str]]:
    """The model with a final softmax removed, and a note saying so (or no note)."""
    last, node_index, _ = model.outputs[0]._keras_history
    kind = type(last).__name__
    if isinstance(last, keras.layers.Softmax) or (
        isinstance(last, keras.layers.Activation) and _is_softmax(last.activation)
    ):
        before = last._inbound_nodes[node_index].input_tensors
        if isinstance(before, (list, tuple)):
            raise LthError(
                f"{label} ends in a softmax layer '{last.name}' over several tensors; "
                "end the model with a layer that outputs logits"
            )
        logits = keras.Model(model.inputs, before, name=model.name)
        return logits, [f"removed the final {kind} layer '{last.name}': lth_tf trains on logits"]
    if _is_softmax(getattr(last, "activation", None)):
        squash = last.activation.__name__
        # In place, on our own copy: the layer's call and get_config read
        # `activation`, so both the model and wrap()'s clone compute logits.
        last.activation = keras.activations.linear
        note = (
            f"set the {squash} activation of the last layer '{last.name}' ({kind}) "
            "to linear, weights unchanged: lth_tf trains on logits"
        )
        return model, [note]
    return model, []
