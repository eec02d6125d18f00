"""CIFAR ResNet-18 (He et al. 2016, in the Kuang Liu `pytorch-cifar` layout).

A 3x3 stem convolution at stride 1 and no max-pool (CIFAR images are 32x32),
then four stages of two BasicBlocks with widths w, 2w, 4w, 8w and strides
1, 2, 2, 2, global average pooling and a Dense layer giving logits. At the
default width 64 it has ~11.2M parameters; at width 16 ~0.7M.

Example:

```python
from lth_tf.core.config import Model
from lth_tf.keras_side.models import resnet

model = resnet.build_resnet18(Model(name="resnet18", width=16), (32, 32, 3), 10, seed=0)
logits = model(images)  # (batch, 10), no softmax
```
"""

from __future__ import annotations

from lth_tf.core.config import Model
from lth_tf.keras_side.models.common import check_classes, check_width, image_shape, init, l2
from lth_tf.platform.backend import keras

layers = keras.layers

STAGES = ((1, 1), (2, 2), (4, 2), (8, 2))  # (width multiple, stride of the first block)
BLOCKS_PER_STAGE = 2
BN_MOMENTUM = 0.9  # PyTorch's 0.1 in Keras's convention; Keras's 0.99 lags for short runs
BN_EPSILON = 1e-5  # PyTorch's default, so results compare with the reference code


def build_resnet18(cfg: Model, input_shape: tuple, num_classes: int, seed: int) -> keras.Model:
    """Build a functional CIFAR ResNet-18 that outputs logits.

    Args:
        cfg: model settings; uses `width` (channels of the first stage) and
            `l2` (L2 factor on every convolution and Dense kernel).
        input_shape: (height, width, channels) of one image.
        num_classes: size of the output layer.
        seed: seeds every kernel initializer; the same seed gives the same weights.

    Returns:
        An uncompiled `keras.Model` named "resnet18"; its last layer is "output".
    """
    image_shape("resnet18", input_shape)
    check_classes("resnet18", num_classes)
    check_width("resnet18", cfg.width)
    reg = l2(cfg.l2)

    def conv(x, filters, kernel, stride, name):
        # No bias: the BatchNorm that follows has its own shift.
        return layers.Conv2D(
            filters, kernel, strides=stride, padding="same", use_bias=False,
            kernel_initializer=init("he_normal", seed, name), kernel_regularizer=reg, name=name,
        )(x)

    def bn(x, name):
        return layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)(x)

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = conv(inputs, cfg.width, 3, 1, "stem_conv")
    x = layers.ReLU(name="stem_relu")(bn(x, "stem_bn"))
    for s, (mult, first_stride) in enumerate(STAGES, start=1):
        for b in range(1, BLOCKS_PER_STAGE + 1):
            stride = first_stride if b == 1 else 1
            x = _basic_block(x, cfg.width * mult, stride, f"stage{s}_block{b}", conv, bn)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(
        num_classes, kernel_initializer=init("he_normal", seed, "output"),
        kernel_regularizer=reg, name="output",
    )(x)
    return keras.Model(inputs, outputs, name="resnet18")


def _basic_block(x, filters, stride, name, conv, bn):
    """Two 3x3 conv-BN layers plus a shortcut (1x1 conv-BN when the shape changes)."""
    shortcut = x
    y = conv(x, filters, 3, stride, f"{name}_conv1")
    y = layers.ReLU(name=f"{name}_relu1")(bn(y, f"{name}_bn1"))
    y = conv(y, filters, 3, 1, f"{name}_conv2")
    y = bn(y, f"{name}_bn2")
    if stride != 1 or x.shape[-1] != filters:
        shortcut = bn(conv(x, filters, 1, stride, f"{name}_shortcut_conv"), f"{name}_shortcut_bn")
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_relu2")(y)
