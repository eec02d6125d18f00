"""LeNet-300-100 (LeCun et al. 1998), the fully connected net of Frankle & Carbin.

Flatten, Dense 300 (ReLU), Dense 100 (ReLU), Dense output giving logits;
Gaussian Glorot initialisation as in the lottery-ticket paper.

Example:

```python
from lth_tf.core.config import Model
from lth_tf.keras_side.models import lenet

model = lenet.build_lenet300(Model(name="lenet300"), (28, 28, 1), 10, seed=0)
logits = model(images)  # (batch, 10)
```
"""

from __future__ import annotations

from lth_tf.core.config import Model
from lth_tf.keras_side.models.common import check_classes, dense_head
from lth_tf.platform.backend import keras

layers = keras.layers

HIDDEN = (300, 100)


def build_lenet300(cfg: Model, input_shape: tuple, num_classes: int, seed: int) -> keras.Model:
    """Build a functional LeNet-300-100 that outputs logits.

    Args:
        cfg: model settings; LeNet uses none of them (the widths are fixed).
        input_shape: shape of one example; it is flattened.
        num_classes: size of the output layer.
        seed: seeds every kernel initializer.

    Returns:
        An uncompiled `keras.Model` named "lenet300"; its last layer is "output".
    """
    check_classes("lenet300", num_classes)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Flatten(name="flatten")(inputs)
    outputs = dense_head(x, HIDDEN, num_classes, seed)
    return keras.Model(inputs, outputs, name="lenet300")
