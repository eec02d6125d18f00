"""Small convolutional nets: Conv-4 (Frankle & Carbin 2019) and a tiny test CNN.

Conv-4: conv64, conv64, max-pool, conv128, conv128, max-pool, Dense 256,
Dense 256, Dense output (3x3 convolutions, ReLU, Gaussian Glorot init). The
convolution channels scale by `width / 64`, so width 64 is the paper's net;
the Dense widths stay 256.

tiny_cnn: two 3x3 convolutions of `width` channels with BatchNorm, max-pool,
global average pooling and a Dense output. It exists for tests and the smoke
preset: a training step takes milliseconds.

Example:

```python
from lth_tf.core.config import Model
from lth_tf.keras_side.models import conv

model = conv.build_conv4(Model(name="conv4"), (32, 32, 3), 10, seed=0)
tiny = conv.build_tiny_cnn(Model(name="tiny_cnn", width=8), (16, 16, 3), 10, seed=0)
```
"""

from __future__ import annotations

from lth_tf.core.config import Model
from lth_tf.keras_side.models.common import (
    check_classes,
    check_width,
    dense_head,
    image_shape,
    init,
)
from lth_tf.platform.backend import keras

layers = keras.layers

CONV4_CHANNELS = ((64, 64), (128, 128))  # two blocks, each followed by a 2x2 max-pool
CONV4_DENSE = (256, 256)


def build_conv4(cfg: Model, input_shape: tuple, num_classes: int, seed: int) -> keras.Model:
    """Build a functional Conv-4 that outputs logits.

    Args:
        cfg: model settings; uses `width` (64 is the paper's channel count; other
            values scale every convolution by width / 64).
        input_shape: (height, width, channels) of one image.
        num_classes: size of the output layer.
        seed: seeds every kernel initializer.

    Returns:
        An uncompiled `keras.Model` named "conv4"; its last layer is "output".
    """
    image_shape("conv4", input_shape)
    check_classes("conv4", num_classes)
    check_width("conv4", cfg.width)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    n = 0
    for b, block in enumerate(CONV4_CHANNELS, start=1):
        for channels in block:
            n += 1
            name = f"conv{n}"
            x = layers.Conv2D(
                max(1, round(channels * cfg.width / 64)), 3, padding="same", activation="relu",
                kernel_initializer=init("glorot_normal", seed, name), name=name,
            )(x)
        x = layers.MaxPooling2D(2, name=f"pool{b}")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = dense_head(x, CONV4_DENSE, num_classes, seed)
    return keras.Model(inputs, outputs, name="conv4")


def build_tiny_cnn(cfg: Model, input_shape: tuple, num_classes: int, seed: int) -> keras.Model:
    """Build a very small CNN (for tests and smoke runs) that outputs logits.

    Args:
        cfg: model settings; uses `width` (channels of both convolutions).
        input_shape: (height, width, channels) of one image.
        num_classes: size of the output layer.
        seed: seeds every kernel initializer.

    Returns:
        An uncompiled `keras.Model` named "tiny_cnn"; its last layer is "output".
    """
    image_shape("tiny_cnn", input_shape)
    check_classes("tiny_cnn", num_classes)
    check_width("tiny_cnn", cfg.width)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for i in (1, 2):
        x = layers.Conv2D(
            cfg.width, 3, padding="same", use_bias=False,
            kernel_initializer=init("he_normal", seed, f"conv{i}"), name=f"conv{i}",
        )(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        if i == 1:
            x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.GlobalAveragePooling2D(name="pool2")(x)
    outputs = layers.Dense(
        num_classes, kernel_initializer=init("glorot_uniform", seed, "output"), name="output"
    )(x)
    return keras.Model(inputs, outputs, name="tiny_cnn")
