"""Small pieces the model files share: seeded initializers, L2, shape checks.

Every kernel gets its own initializer seeded from (model seed, layer name), so
a model's initial weights depend only on the seed and the architecture, never
on global random state or on how many models were built before it.
"""

from __future__ import annotations

import zlib

from lth_tf.core.errors import LthError
from lth_tf.platform.backend import keras

_INITIALIZERS = {
    "he_normal": keras.initializers.HeNormal,
    "glorot_normal": keras.initializers.GlorotNormal,
    "glorot_uniform": keras.initializers.GlorotUniform,
}


def layer_seed(seed: int, name: str) -> int:
    """A 31-bit seed for one layer, derived from the model seed and layer name."""
    return zlib.crc32(f"{seed}/{name}".encode()) & 0x7FFFFFFF


def init(kind: str, seed: int, name: str) -> keras.initializers.Initializer:
    """A fresh seeded initializer for the layer `name`.

    A new instance per layer: a seeded Keras initializer returns the same values
    on every call, so sharing one would give layers of equal shape equal weights.
    """
    return _INITIALIZERS[kind](seed=layer_seed(seed, name))


def l2(value: float) -> keras.regularizers.Regularizer | None:
    """An L2 kernel regularizer, or None when `value` is 0."""
    return keras.regularizers.L2(value) if value > 0 else None


def image_shape(model: str, input_shape: tuple) -> tuple[int, int, int]:
    """Check that `input_shape` is (H, W, C) for an image model."""
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise LthError(
            f"model '{model}' needs image input of shape (height, width, channels), "
            f"got {shape}; use an image dataset or model.name = gcn for graphs"
        )
    return shape  # type: ignore[return-value]


def check_classes(model: str, num_classes: int) -> None:
    if num_classes < 2:
        raise LthError(
            f"model '{model}': num_classes {num_classes} must be at least 2; check the dataset"
        )


def check_width(model: str, width: int) -> None:
    if width < 1:
        raise LthError(
            f"model '{model}': model.width {width} must be at least 1; "
            "use e.g. --set model.width=16"
        )


def dense_head(x, hidden: tuple[int, ...], num_classes: int, seed: int):
    """ReLU Dense layers named dense1.. then the logits layer "output" (LeNet, Conv-4)."""
    for i, units in enumerate(hidden, start=1):
        name = f"dense{i}"
        x = keras.layers.Dense(
            units, activation="relu", kernel_initializer=init("glorot_normal", seed, name), name=name
        )(x)
    return keras.layers.Dense(
        num_classes, kernel_initializer=init("glorot_normal", seed, "output"), name="output"
    )(x)
