"""Keras 3 operations on symbolic tensors as tf_keras TFOpLambda layers.

In a Keras 3 functional model `x + 3.0`, `x * y` or `keras.ops.relu(x)` is an
operation node, not a layer (keras.applications' MobileNetV3 builds its hard
sigmoid this way). tf_keras records the same arithmetic as a `TFOpLambda`
layer calling a TensorFlow function, so each supported operation becomes one:

| Keras 3 operation | TensorFlow function |
|---|---|
| Add, Subtract, Multiply, Divide, TrueDivide | tf.math.add, subtract, multiply, truediv |
| Maximum, Minimum | tf.math.maximum, minimum |
| Relu, Relu6, Sigmoid, Tanh, Negative, Abs, Sqrt, Exp | tf.nn.relu, relu6, tf.math.sigmoid, tanh, negative, abs, sqrt, exp |

The first argument must be a tensor; for the commutative ones a constant first
(`3.0 + x`) is swapped. The second argument may be a tensor or a number. Any
other operation is one LthError naming the layer to use instead.
"""

from __future__ import annotations

from typing import Any

from lth_tf.core.errors import LthError

BINARY = {
    "Add": "math.add",
    "Subtract": "math.subtract",
    "Multiply": "math.multiply",
    "Divide": "math.truediv",
    "TrueDivide": "math.truediv",
    "Maximum": "math.maximum",
    "Minimum": "math.minimum",
}
COMMUTATIVE = frozenset({"Add", "Multiply", "Maximum", "Minimum"})
UNARY = {
    "Relu": "nn.relu",
    "Relu6": "nn.relu6",
    "Sigmoid": "math.sigmoid",
    "Tanh": "math.tanh",
    "Negative": "math.negative",
    "Absolute": "math.abs",
    "Abs": "math.abs",
    "Sqrt": "math.sqrt",
    "Exp": "math.exp",
}
# the layer to use instead of an operation we do not translate
_LAYERS = {"Concatenate": "keras.layers.Concatenate()", "Reshape": "keras.layers.Reshape()"}


def _is_tensor(x: Any) -> bool:
    return isinstance(x, dict) and x.get("class_name") == "__keras_tensor__"


def _ref(t: dict) -> list:
    return list(t["config"]["keras_history"])


def functional_entry(entry: dict) -> dict:
    """The tf_keras TFOpLambda entry (config and inbound nodes) of a Keras 3 operation."""
    op, name = entry["class_name"], entry["name"]
    function = BINARY.get(op) or UNARY.get(op)
    if function is None:
        instead = _LAYERS.get(op, "a keras.layers layer")
        raise LthError(
            f"layer '{name}' is the Keras 3 operation {op} applied to symbolic tensors, "
            f"which lth_tf does not translate; use {instead} in the model instead"
        )
    nodes, dtype = [], None
    for node in entry["inbound_nodes"]:
        args = list(node.get("args", []))
        if node.get("kwargs"):
            raise LthError(
                f"layer '{name}' calls the operation {op} with keywords {sorted(node['kwargs'])}; "
                "use a keras.layers layer instead"
            )
        if op in COMMUTATIVE and len(args) == 2 and not _is_tensor(args[0]) and _is_tensor(args[1]):
            args.reverse()
        expected = 2 if op in BINARY else 1
        if len(args) != expected or not _is_tensor(args[0]):
            raise LthError(
                f"layer '{name}': the operation {op} takes a tensor first (and {expected} arguments); "
                "rewrite it as tensor-first arithmetic or a keras.layers layer"
            )
        dtype = dtype or args[0]["config"].get("dtype")
        kwargs: dict[str, Any] = {"name": None}
        if expected == 2:
            kwargs["y"] = _ref(args[1]) if _is_tensor(args[1]) else args[1]
        # one flat entry: TFOpLambda keeps its input's structure, [[...]] would call f([x])
        nodes.append([*_ref(args[0]), kwargs])
    return {
        "class_name": "TFOpLambda",
        "config": {"name": name, "trainable": True, "dtype": dtype or "float32", "function": function},
        "name": name,
        "inbound_nodes": nodes,
    }
