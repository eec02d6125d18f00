"""Model registry: `build(cfg, input_shape, num_classes, seed) -> keras.Model`.

Every registry model is a plain functional tf_keras model with named layers
whose last layer, named "output", gives logits. Model modules import TensorFlow
(and the GCN Spektral), so the registry imports a module only when its model is
built; `import lth_tf.keras_side.models` alone stays cheap.

User models (`lth_tf.keras_side.models.user`): `model.name = "file:PATH"` or
`"py:module:function"` in the config, or `from_keras(model_or_factory)` in
Python; Keras 3 models (and files Keras 3 wrote) are translated to tf_keras
(`lth_tf.keras_side.keras3`). They are checked before anything trains (one-line
LthError) and a final softmax is turned into logits. `source(cfg)` / `from_keras(...)` give a callable
`(input_shape, num_classes, seed) -> Built(model, notes)`; the notes say what
was changed (put them in an event). `build` returns the model alone and logs
the notes.

Adding a model: write `lth_tf/keras_side/models/<file>.py` with a builder of the signature
below, add one line to `REGISTRY` and the name to `lth_tf.core.config.MODELS`.

Example:

```python
from lth_tf.core.config import Model
from lth_tf.keras_side import models

model = models.build(Model(name="resnet18", width=16), (32, 32, 3), 10, seed=0)
```
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lth_tf.core import sources
from lth_tf.core.errors import LthError

if TYPE_CHECKING:
    from lth_tf.core.config import Model
    from lth_tf.keras_side.models.user import Built, ModelSource

log = logging.getLogger(__name__)

Builder = Callable[["Model", tuple, int, int], Any]


def _lazy(module: str, function: str) -> Builder:
    """A builder that imports `lth_tf.keras_side.models.<module>` on first use."""

    def builder(cfg: Model, input_shape: tuple, num_classes: int, seed: int) -> Any:
        fn = getattr(importlib.import_module(f"lth_tf.keras_side.models.{module}"), function)
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
        seed: the same seed gives the same initial weights, bit for bit
            (a `file:` model without `reinit` always has its stored weights).

    Returns:
        An uncompiled functional (or Sequential) `keras.Model` that outputs logits.
    """
    built = source(cfg)(input_shape, num_classes, seed)
    for note in built.notes:
        log.info("%s: %s", cfg.name, note)
    return built.model


def source(cfg: Model) -> ModelSource:
    """`(input_shape, num_classes, seed) -> Built(model, notes)` for any model name.

    Registry models come with no notes. For a user model each call loads or
    builds a new model and checks it (LthError before anything trains).
    """
    if sources.is_user_model(cfg.name):
        from lth_tf.keras_side.models import user

        return user.from_name(cfg.name, reinit=cfg.reinit)
    builder = get(cfg.name)

    def registry_source(input_shape: tuple, num_classes: int, seed: int) -> Built:
        from lth_tf.keras_side.models.user import Built

        return Built(builder(cfg, tuple(input_shape), int(num_classes), int(seed)))

    return registry_source


def from_keras(model_or_factory: Any, reinit: bool = False, label: str | None = None) -> ModelSource:
    """A source for the Python API: a Keras model (tf_keras or Keras 3) or a `factory(seed) -> Model`.

    A built model's current weights are θ0; every call returns a clone with its
    own variables holding them (`reinit=True`: fresh weights from the seed). A
    factory is called with the seed after `set_random_seed(seed)`. A Keras 3 model
    (or one a factory returns) is translated to tf_keras; `Built.keras3` keeps it.

    Example:

    ```python
    src = models.from_keras(my_model)
    built = src((32, 32, 3), 10, seed=0)   # built.model, built.notes
    ```
    """
    from lth_tf.keras_side.models import user

    return user.from_keras(model_or_factory, reinit=reinit, label=label)


def reinitialising(source: ModelSource) -> ModelSource:
    """`source` giving fresh weights from each call's seed (the random_reinit control's model)."""
    from lth_tf.keras_side.models import user

    return user.reinitialising(source)


def file_model_io(name: str) -> tuple[tuple, int]:
    """(input shape, number of classes) a `file:PATH` model was saved with."""
    from lth_tf.keras_side.models import user

    return user.file_io(name)


def custom_objects() -> dict[str, Any]:
    """Classes Keras needs to load a saved model of ours (imports Spektral)."""
    from lth_tf.keras_side.models.gcn import PrunableGCNConv

    return {"PrunableGCNConv": PrunableGCNConv}
