"""Model registry: `build(cfg, input_shape, num_classes, seed) -> keras.Model`.

Every model is a plain functional tf_keras model with named layers whose last
layer, named "output", gives logits. Model modules import TensorFlow (and the
GCN Spektral), so the registry imports a module only when its model is built;
`import lth_tf.models` alone stays cheap.

Adding a model: write `lth_tf/models/<file>.py` with a builder of the signature
below, add one line to `REGISTRY` and the name to `lth_tf.config.MODELS`.

Example:

```python
from lth_tf.config import Model
from lth_tf import models

model = models.build(Model(name="resnet18", width=16), (32, 32, 3), 10, seed=0)
```
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lth_tf.errors import LthError

if TYPE_CHECKING:
    from lth_tf.config import Model

Builder = Callable[["Model", tuple, int, int], Any]


def _lazy(module: str, function: str) -> Builder:
    """A builder that imports `lth_tf.models.<module>` on first use."""

    def builder(cfg: Model, input_shape: tuple, num_classes: int, seed: int) -> Any:
        fn = getattr(importlib.import_module(f"lth_tf.models.{module}"), function)
        return fn(cfg, input_shape, num_classes, seed)

    builder.__name__ = builder.__qualname__ = function
    return builder


REGISTRY: dict[str, Builder] = {
    "resnet18": _lazy("resnet", "build_resnet18"),
    "gcn": _lazy("gcn", "build_gcn"),
    "lenet300": _lazy("lenet", "build_lenet300"),
    "conv4": _lazy("conv", "build_conv4"),
    "tiny_cnn": _lazy("conv", "build_tiny_cnn"),
}


def get(name: str) -> Builder:
    """The builder registered under `name`."""
    if name not in REGISTRY:
        raise LthError(f"No such model: '{name}'; use model.name = one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def build(cfg: Model, input_shape: tuple, num_classes: int, seed: int) -> Any:
    """Build the model `cfg.name` with initial weights fixed by `seed`.

    Args:
        cfg: the `[model]` section of the experiment.
        input_shape: shape of one example without the batch axis: (H, W, C)
            for images, (F,) for graphs.
        num_classes: size of the output layer.
        seed: the same seed gives the same initial weights, bit for bit.

    Returns:
        An uncompiled functional `keras.Model` that outputs logits.
    """
    return get(cfg.name)(cfg, tuple(input_shape), int(num_classes), int(seed))


def custom_objects() -> dict[str, Any]:
    """Classes Keras needs to load a saved model of ours (imports Spektral)."""
    from lth_tf.models.gcn import PrunableGCNConv

    return {"PrunableGCNConv": PrunableGCNConv}
