"""Models the user brings: a saved file, a Python factory, or a Keras object.

Each becomes a `ModelSource`: called as `source(input_shape, num_classes, seed)`
it returns a `Built` (a NEW tf_keras model with its own variables, checked by
`lth_tf.keras_side.models.checks`, plus notes on what was changed, e.g. a softmax head
turned into logits, and the user's Keras 3 model when it was translated from one).
The engine calls it once per round, after `keras.backend.clear_session()`.

Which Keras is told by type (`lth_tf.keras_side.keras3.detect.kind`; a model is
never called to find out) or, for a file, by the version it records
(`sources.saved_by_keras3`). A Keras 3 model (functional or Sequential, `import keras`
or a `tf.keras` that is Keras 3) is translated into the equivalent tf_keras model
(`lth_tf.keras_side.keras3.translate`: outputs checked on a batch); its translation
notes go into `Built.notes` and `Built.keras3` keeps the user's model, the architecture
a ticket is given back in (`keras3.back.to_keras3`). Subclassed models of either
Keras are refused (`checks.subclassed_refusal`).

Initial weights θ0 (what rounds rewind to):

- `file:PATH`: the stored weights (pruning a pretrained model works). A tf_keras
  file is loaded again for every round; a file Keras 3 wrote is loaded with Keras 3
  (`keras.saving.load_model(compile=False)`) and translated once, on the first call.
  With `reinit`, fresh weights from `seed`.
- `py:module:function`: whatever `function(input_shape, num_classes, seed)`
  builds. `set_random_seed(seed)` runs first (tf_keras', and Keras 3's when it is
  loaded, whose automatic layer names then start again, as tf_keras' do after the
  engine's `clear_session`), so a factory that ignores `seed` is deterministic too. A Keras 3 model it
  returns is translated on every call.
- `from_keras(model)`: the model's weights at the time of the call (copied
  then, so training the user's object later changes nothing); each round gets
  `clone_model` + those weights. A Keras 3 model is translated at that call (an
  unbuilt Sequential on the first round, when the input shape is known).
  `from_keras(factory)`: `factory(seed)`, seeded like a `py:` factory.

`reinit` re-creates every weight from its layer's initializer, each seeded from
(seed, layer, argument), so the same seed gives bit-identical weights and
another seed other weights, whatever seeds the saved config held. The engine's
random_reinit control should use it (`dataclasses.replace(cfg, reinit=True)`):
without it a `file:` model ignores the seed. `reinitialising(source)` is the same
for any source (the Python API's control).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lth_tf.core import sources
from lth_tf.core.errors import LthError
from lth_tf.keras_side import clone as cloning
from lth_tf.keras_side.keras3 import detect
from lth_tf.keras_side.keras3.translate import Translation, translate
from lth_tf.keras_side.models.checks import checked, one_line, subclassed_refusal
from lth_tf.keras_side.models.common import layer_seed
from lth_tf.platform.backend import keras, keras3


@dataclass(frozen=True)
class Built:
    """A model ready to wrap, notes on what was changed to make it so, and the user's Keras 3 model.

    `keras3` is the Keras 3 model `model` was translated from (its architecture;
    its weights are not θ0's when the user trained it since), or None for a tf_keras model.
    """

    model: Any  # tf_keras Model
    notes: tuple[str, ...] = ()
    keras3: Any = None


ModelSource = Callable[[tuple, int, int], Built]
# make(input_shape, num_classes, seed): a model of either Keras, or a Built already translated
Make = Callable[[tuple, int, int], Any]


def from_name(name: str, reinit: bool = False) -> ModelSource:
    """The source for a config's `file:PATH` or `py:module:function` model name."""
    if name.startswith(sources.FILE):
        path = sources.model_file(name)
        if sources.saved_by_keras3(path):
            source = _source(_translated_once(lambda: _load3(path, name), name, now=False), name)
        else:
            source = _source(lambda shape, n, seed: _load(path, name), name)
        return reinitialising(source) if reinit else source
    module, function = sources.factory_parts(name)

    def make(input_shape: tuple, num_classes: int, seed: int) -> Any:
        factory = _import_factory(name, module, function)
        _seed(seed)
        return _call(factory, name, input_shape, num_classes, seed)

    return _source(make, name)  # the factory gets the seed itself: never re-initialised


def from_keras(model_or_factory: Any, reinit: bool = False, label: str | None = None) -> ModelSource:
    """The source for a model of either Keras (its current weights are θ0) or a `factory(seed)`."""
    what = detect.kind(model_or_factory)
    if what in ("keras3", "keras3_subclassed", "tf_keras"):
        label = label or f"model '{model_or_factory.name}'"
    if what == "keras3_subclassed":
        raise subclassed_refusal(model_or_factory, label)
    if what == "keras3":
        model3 = model_or_factory
        source = _source(_translated_once(lambda: model3, label, now=model3.built), label)
    elif what == "tf_keras":
        model = model_or_factory
        weights = model.get_weights() if model.built else None
        source = _source(lambda shape, n, seed: _copy(model, weights, seed, label), label)
    elif what == "factory":
        factory = model_or_factory
        label = label or f"factory {getattr(factory, '__qualname__', repr(factory))}"

        def make(input_shape: tuple, num_classes: int, seed: int) -> Any:
            _seed(seed)
            return _call(factory, label, seed)

        source = _source(make, label)
    else:
        raise LthError(
            f"from_keras got a {type(model_or_factory).__name__}; "
            "pass a Keras Model (keras or tf_keras) or a function seed -> Model"
        )
    return reinitialising(source) if reinit else source


def reinitialising(source: ModelSource) -> ModelSource:
    """`source` with every weight re-created from its initializer, seeded from `seed` (see `reinitialised`)."""

    def fresh(input_shape: tuple, num_classes: int, seed: int) -> Built:
        built = source(input_shape, num_classes, seed)
        return replace(built, model=reinitialised(built.model, int(seed)))

    return fresh


def _source(make: Make, label: str) -> ModelSource:
    """Calls `make`, translates a Keras 3 model it gives, and checks the result."""

    def source(input_shape: tuple, num_classes: int, seed: int) -> Built:
        shape, n, seed = tuple(input_shape), int(num_classes), int(seed)
        got = make(shape, n, seed)
        built = got if isinstance(got, Built) else _as_tf_keras(got, label, shape)
        model, notes = checked(built.model, shape, n, label)
        return Built(model, built.notes + tuple(notes), built.keras3)

    return source


# -- Keras 3 ---------------------------------------------------------------------------


def _as_tf_keras(model: Any, label: str, input_shape: tuple) -> Built:
    """A Keras 3 model translated (the user's object untouched); anything else as it is."""
    if not detect.is_keras3(model):
        return Built(model)
    return _built(translate(model, label=label, input_shape=input_shape))


def _built(t: Translation) -> Built:
    k3 = detect.loaded_keras3()
    note = (
        f"translated from Keras {k3.__version__} to tf_keras {keras.__version__} for tfmot's pruning "
        f"wrappers (outputs agree within {t.difference:.2g} on a check batch)"
    )
    return Built(t.model, (note, *t.notes), t.source)


def _translated_once(get3: Callable[[], Any], label: str, now: bool) -> Make:
    """`make` for one Keras 3 model: translated once (`now`, else on the first call), then cloned.

    θ0 is the Keras 3 model's weights at translation; every call returns a clone of
    the translation holding them, as for a tf_keras model.
    """
    done: list[tuple[Built, list]] = []  # the translation and its weights, once made

    def translated(input_shape: tuple | None, seed: int) -> tuple[Built, list]:
        if not done:
            model3 = get3()
            if detect.kind(model3) == "keras3_subclassed":
                raise subclassed_refusal(model3, label)
            keras3().utils.set_random_seed(seed)  # an unbuilt Sequential gets its weights when built
            built = _built(translate(model3, label=label, input_shape=input_shape))
            done.append((built, built.model.get_weights()))
        return done[0]

    if now:
        translated(None, 0)

    def make(input_shape: tuple, num_classes: int, seed: int) -> Built:
        built, weights = translated(input_shape, seed)
        return replace(built, model=_copy(built.model, weights, seed, label))

    return make


def _seed(seed: int) -> None:
    """Seed before a factory runs: tf_keras, and Keras 3 when this process has it."""
    keras.utils.set_random_seed(seed)
    k3 = detect.loaded_keras3()
    if k3 is not None:
        detect.reset_layer_names()  # so every round's model is named as round 0's (masks go by name)
        k3.utils.set_random_seed(seed)


# -- getting a model ------------------------------------------------------------------


def _load(path: Path, name: str) -> Any:
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001 - corrupt files raise many kinds
        raise LthError(
            f"model.name {name!r}: cannot load {path} ({one_line(e)}); "
            "save it with model.save('model.keras'), or use a py:module:function factory "
            "for custom layers"
        ) from None


def _load3(path: Path, name: str) -> Any:
    """A file Keras 3 wrote, loaded by Keras 3 (its custom layers must be registered)."""
    try:
        return keras3().saving.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001 - corrupt files raise many kinds
        raise LthError(
            f"model.name {name!r}: Keras 3 cannot load {path} ({one_line(e)}); "
            "save it again with model.save('model.keras'), or use a py:module:function factory "
            "that imports the module registering its custom layers"
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


def _copy(model: Any, weights: list | None, seed: int, label: str) -> Any:
    """A new model with its own variables; with `weights`, computing what `model` did."""
    if not (isinstance(model, keras.Sequential) or getattr(model, "_is_graph_network", False)):
        return model  # subclassed: checks() refuses it, with the reason
    keras.utils.set_random_seed(seed)  # an unbuilt Sequential gets its weights when built
    try:
        clone = keras.models.clone_model(model, clone_function=cloning.fresh)
    except Exception as e:  # noqa: BLE001 - custom layers without get_config etc.
        raise LthError(
            f"{label} cannot be cloned ({one_line(e)}); "
            "give its custom layers get_config(), or pass a factory seed -> Model"
        ) from None
    if weights is not None:
        clone.set_weights(weights)
    return clone


def reinitialised(model: keras.Model, seed: int) -> keras.Model:
    """A clone of `model` whose weights come fresh from its initializers, seeded from `seed`."""

    def fresh(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = cloning.config(layer)
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
    path = sources.model_file(name)
    model = _load3(path, name) if sources.saved_by_keras3(path) else _load(path, name)
    return tuple(model.inputs[0].shape[1:]), int(model.outputs[0].shape[-1])
