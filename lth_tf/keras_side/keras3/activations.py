"""Keras 3 activation names as tf_keras activations that compute the same function.

Most names mean the same in both Kerases and pass unchanged. Keras 3 defines
`hard_sigmoid` as relu6(x + 3) / 6, tf_keras as clip(0.2 x + 0.5, 0, 1), and
tf_keras has no `hard_silu` (alias `hard_swish`); for these the translated
config names a function registered here with tf_keras (package "lth_tf"), so a
tf_keras clone of the model (tfmot's wrapping) finds it again.
"""

from __future__ import annotations

from typing import Any

from lth_tf.core.errors import LthError
from lth_tf.platform.backend import keras, tf

# Keras 3 activation names that tf_keras defines with the same formula.
SAME = frozenset(
    {"relu", "relu6", "leaky_relu", "elu", "selu", "softplus", "softsign", "silu", "swish",
     "gelu", "tanh", "sigmoid", "exponential", "linear", "mish", "log_softmax", "softmax"}
)


@keras.saving.register_keras_serializable(package="lth_tf", name="keras3_hard_sigmoid")
def keras3_hard_sigmoid(x: Any) -> Any:
    """Keras 3's hard_sigmoid: relu6(x + 3) / 6."""
    return tf.nn.relu6(x + 3.0) / 6.0


@keras.saving.register_keras_serializable(package="lth_tf", name="keras3_hard_silu")
def keras3_hard_silu(x: Any) -> Any:
    """Keras 3's hard_silu (hard_swish): x * hard_sigmoid(x), rounded as Keras 3 does."""
    return x * keras3_hard_sigmoid(x)


_SUBSTITUTES = {
    "hard_sigmoid": "lth_tf>keras3_hard_sigmoid",
    "hard_silu": "lth_tf>keras3_hard_silu",
    "hard_swish": "lth_tf>keras3_hard_silu",
}


def tf_keras_name(name: str, layer: str) -> str:
    """The tf_keras activation name computing Keras 3's `name`, or LthError."""
    if name in SAME:
        return name
    if name in _SUBSTITUTES:
        return _SUBSTITUTES[name]
    if keras.saving.get_registered_object(name) is not None:
        return name  # a custom function the user registered with tf_keras under the same name
    raise LthError(
        f"layer '{layer}' uses the Keras 3 activation {name!r}, which tf_keras does not have; "
        f"use one of {', '.join(sorted(SAME))}, or register a tf_keras function named {name!r}"
    )


def tf_keras_function(value: dict, where: str) -> str:
    """A serialized Keras 3 custom function (`class_name: "function"`) as a tf_keras name."""
    name = value.get("registered_name") or value.get("config")
    if isinstance(name, str):
        if keras.saving.get_registered_object(name) is not None:
            return name
        if name in SAME or name in _SUBSTITUTES:
            return tf_keras_name(name, where)
    raise LthError(
        f"{where} is the custom function {name!r}, which tf_keras does not know; register a "
        f"tf_keras twin with @tf_keras.saving.register_keras_serializable under the same name"
    )
