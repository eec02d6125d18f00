"""Models the user brings: a saved file, a Python factory, or a Keras object.

Each becomes a `ModelSource`: called as `source(input_shape, num_classes, seed)`
it returns a `Built` (a NEW model with its own variables, checked by
`lth_tf.keras_side.models.checks`, plus notes on what was changed, e.g. a softmax head
turned into logits). The engine calls it once per round, after
`keras.backend.clear_session()`.

Initial weights θ0 (what rounds rewind to):

- `file:PATH`: the stored weights (pruning a pretrained model works); the file
  is loaded again for every round. With `reinit`, fresh weights from `seed`.
- `py:module:function`: whatever `function(input_shape, num_classes, seed)`
  builds. `keras.utils.set_random_seed(seed)` runs first, so a factory that
  ignores `seed` is deterministic too.
- `from_keras(model)`: the model's weights at the time of the call (copied
  then, so training the user's object later changes nothing); each round gets
  `clone_model` + those weights. `from_keras(factory)`: `factory(seed)`, seeded
  like a `py:` factory.

`reinit` re-creates every weight from its layer's initializer, each seeded from
(seed, layer, argument), so the same seed gives bit-identical weights and
another seed other weights, whatever seeds the saved config held. The engine's
random_reinit control should use it (`dataclasses.replace(cfg, reinit=True)`):
without it a `file:` model ignores the seed.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lth_tf.core import sources
from lth_tf.core.errors import LthError
from lth_tf.keras_side.models.checks import checked, one_line
from lth_tf.keras_side.models.common import layer_seed
from lth_tf.platform.backend import keras


@dataclass(frozen=True)
class Built:
    """A model ready to wrap, and notes on what was changed to make it so."""

    model: Any  # keras.Model
    notes: tuple[str, ...] = ()


ModelSource = Callable[[tuple, int, int], Built]


def from_name(name: str, reinit: bool = False) -> ModelSource:
    """The source for a config's `file:PATH` or `py:module:function` model name."""
    if name.startswith(sources.FILE):
        path = sources.model_file(name)
        return _source(lambda shape, n, seed: _load(path, name), name, reinit)
    module, function = sources.factory_parts(name)

    def make(input_shape: tuple, num_classes: int, seed: int) -> Any:
        factory = _import_factory(name, module, function)
        keras.utils.set_random_seed(seed)
        return _call(factory, name, input_shape, num_classes, seed)

    return _source(make, name, reinit=False)  # the factory gets the seed itself


def from_keras(model_or_factory: Any, reinit: bool = False, label: str | None = None) -> ModelSource:
    """The source for a tf_keras model (its current weights are θ0) or a `factory(seed)`."""
    if isinstance(model_or_factory, keras.Model):
        model = model_or_factory
        weights = model.get_weights() if model.built else None
        return _source(lambda shape, n, seed: _copy(model, weights, seed), label or f"model '{model.name}'", reinit)
    if callable(model_or_factory):
        factory = model_or_factory
        label = label or f"factory {getattr(factory, '__qualname__', repr(factory))}"

        def make(input_shape: tuple, num_classes: int, seed: int) -> Any:
            keras.utils.set_random_seed(seed)
            return _call(factory, label, seed)

        return _source(make, label, reinit)
    raise LthError(
        f"from_keras got a {type(model_or_factory).__name__}; "
        "pass a tf_keras Model or a function seed -> Model"
    )


def _source(make: Callable[[tuple, int, int], Any], label: str, reinit: bool) -> ModelSource:
    """Calls `make`, checks what it gives, and re-initialises it if asked."""

    def source(input_shape: tuple, num_classes: int, seed: int) -> Built:
        shape, n, seed = tuple(input_shape), int(num_classes), int(seed)
        model, notes = checked(make(shape, n, seed), shape, n, label)
        if reinit:
            model = reinitialised(model, seed)
        return Built(model, tuple(notes))

    return source


# -- getting a model ------------------------------------------------------------------


def _load(path: Path, name: str) -> Any:
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001 - corrupt files raise many kinds
        raise LthError(
            f"model.name {name!r}: cannot load {path} ({one_line(e)}); "
            "save it with tf_keras model.save('model.keras'), or use a py:module:function factory "
            "for custom layers"
        ) from None


def _import_factory(name: str, module: str, function: str) -> Callable:
    sources.factory_source(name)  # a clear error if the module cannot be found
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        mod = importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 - the user's module may raise anything
        raise LthError(f"model.name {name!r}: importing {module} failed ({one_line(e)}); fix the module") from None
    finally:
        if added:
            sys.path.remove(cwd)
    factory = getattr(mod, function, None)
    if not callable(factory):
        raise LthError(
            f"model.name {name!r}: module {module} has no function {function!r}; "
            f"define def {function}(input_shape, num_classes, seed)"
        )
    return factory


def _call(factory: Callable, label: str, *args: Any) -> Any:
    try:
        return factory(*args)
    except LthError:
        raise
    except Exception as e:  # noqa: BLE001 - report the user's error on one line
        raise LthError(f"{label} raised {one_line(e)}; fix the factory") from None


def _copy(model: keras.Model, weights: list | None, seed: int) -> Any:
    """A new model with its own variables; with `weights`, computing what `model` did."""
    if not (isinstance(model, keras.Sequential) or getattr(model, "_is_graph_network", False)):
        return model  # subclassed: checks() refuses it, with the reason
    keras.utils.set_random_seed(seed)  # an unbuilt Sequential gets its weights when built
    try:
        clone = keras.models.clone_model(model)
    except Exception as e:  # noqa: BLE001 - custom layers without get_config etc.
        raise LthError(
            f"model '{model.name}' cannot be cloned ({one_line(e)}); "
            "give its custom layers get_config(), or pass a factory seed -> Model"
        ) from None
    if weights is not None:
        clone.set_weights(weights)
    return clone


def reinitialised(model: keras.Model, seed: int) -> keras.Model:
    """A clone of `model` whose weights come fresh from its initializers, seeded from `seed`."""

    def fresh(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        for key, value in config.items():
            # A serialized initializer: {"class_name": ..., "config": {"seed": ...}}.
            if key.endswith("_initializer") and isinstance(value, dict):
                inner = value.get("config")
                if isinstance(inner, dict) and "seed" in inner:
                    inner["seed"] = layer_seed(seed, f"{layer.name}/{key}")
        return layer.__class__.from_config(config)

    keras.utils.set_random_seed(seed)  # for weights made without a seeded initializer
    return keras.models.clone_model(model, clone_function=fresh)


def file_io(name: str) -> tuple[tuple, int]:
    """(input shape, number of classes) of a `file:` model, read from the file itself."""
    model = _load(sources.model_file(name), name)
    return tuple(model.inputs[0].shape[1:]), int(model.outputs[0].shape[-1])
