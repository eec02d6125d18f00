"""A layer's config for cloning, and the clone: one definition for every `clone_model` of lth_tf.

tf_keras' `BatchNormalization.get_config` leaves out `fused`, so a clone made
from the config (`clone_model`'s default, tfmot's wrapping, `strip`, `narrow`,
re-initialisation, exports) picks the fused kernel again wherever it can. A
layer built with `fused=False` (every BatchNorm of a translated Keras 3 model:
the same TensorFlow ops as Keras 3, bit for bit) would then compute a ticket
that differs from the user's Keras 3 model by float rounding (1e-7..1e-5 after
many layers). `config(layer)` puts `fused=False` back; a layer that may fuse
(the default, `fused=None` or True) is left as tf_keras clones it.

Example:

```python
copy = keras.models.clone_model(model, clone_function=clone.fresh)
```
"""

from __future__ import annotations

from typing import Any

from lth_tf.platform.backend import keras


def config(layer: Any) -> dict[str, Any]:
    """`layer.get_config()`, with `fused=False` kept for a BatchNormalization built unfused."""
    cfg = layer.get_config()
    if isinstance(layer, keras.layers.BatchNormalization) and getattr(layer, "fused", None) is False:
        cfg.setdefault("fused", False)
    return cfg


def fresh(layer: Any) -> Any:
    """A new layer of `layer`'s class and config (`config`), without weights."""
    return layer.__class__.from_config(config(layer))
