"""tf_keras twins of a user's registered Keras 3 custom layers.

A custom layer in a Keras 3 config is translated when its class is registered
(`@keras.saving.register_keras_serializable`, which a `.keras` file needs
anyway to load again) and a tf_keras twin can be had, tried in this order:

1. a tf_keras class the user registered under the same registered name
   (`@tf_keras.saving.register_keras_serializable(package=..., name=...)` with
   the same package and name): it is built from the Keras 3 layer's config;
2. otherwise, when the class subclasses only Keras 3 layers that tf_keras also
   has (most often `keras.layers.Layer` itself), the same class rebased on the
   tf_keras namesakes: its own methods, unchanged, on tf_keras' Layer. Code
   written with `keras.ops` or TensorFlow ops runs there under the TensorFlow
   backend (only there: under KERAS_BACKEND=jax or torch `keras.ops` cannot
   take TensorFlow tensors, so such a layer needs a registered twin); the
   output check after translation catches anything that differs.

Anything else is one LthError naming the class and what to do.
"""

from __future__ import annotations

import functools
import types
from typing import Any

from lth_tf.core.errors import LthError
from lth_tf.keras_side.keras3 import detect
from lth_tf.platform.backend import keras

_SKIP = frozenset({"__dict__", "__weakref__", "__module__", "__qualname__", "__doc__"})
_TWIN_OF = "_lth_tf_twin_of"  # set on a rebased class: the Keras 3 class it stands in for


def _fix() -> str:
    return (
        "register a tf_keras twin under the same name "
        "(@tf_keras.saving.register_keras_serializable(package=..., name=...))"
    )


def keras3_class(entry: dict) -> type | None:
    """The registered Keras 3 class a serialized entry names, or None."""
    k3 = detect.loaded_keras3()
    name = entry.get("registered_name") or entry.get("class_name")
    return None if k3 is None else k3.saving.get_registered_object(name)


def resolve(entry: dict) -> type:
    """The tf_keras class to build a custom Keras 3 layer's entry with, or LthError."""
    class_name = entry.get("class_name")
    name = entry.get("config", {}).get("name", entry.get("name"))
    registered = entry.get("registered_name") or class_name
    twin = keras.saving.get_registered_object(registered)
    if isinstance(twin, type):
        return twin
    cls = keras3_class(entry)
    if cls is None:
        raise LthError(
            f"layer '{name}' is the custom class {class_name}, which is not registered; decorate it "
            "with @keras.saving.register_keras_serializable() (a .keras file needs that to load too)"
        )
    k3 = detect.loaded_keras3()
    if not (isinstance(cls, type) and issubclass(cls, k3.layers.Layer)):
        raise LthError(f"'{name}' is the custom {class_name}, not a layer tf_keras can rebuild; {_fix()}")
    return rebased(cls, name)


def is_rebased(cls: type) -> bool:
    """True for a class `rebased` made (not one the user registered)."""
    return _TWIN_OF in vars(cls)


def rebased(cls: type, layer: str) -> type:
    """`cls` with its Keras 3 layer bases replaced by their tf_keras namesakes (one class per `cls`)."""
    for base in cls.__bases__:
        if _builtin_twin(base) is None:
            raise LthError(
                f"layer '{layer}' is the custom {cls.__name__}, a subclass of {base.__name__} "
                f"that tf_keras cannot stand in for; {_fix()}"
            )
    return _rebased(cls)


@functools.cache  # the same twin class for every layer of `cls`, in every translation
def _rebased(cls: type) -> type:
    bases = [_builtin_twin(base) for base in cls.__bases__]
    twin_cls = types.new_class(cls.__name__, tuple(bases))
    twin_cls.__module__ = cls.__module__
    twin_cls.__qualname__ = cls.__qualname__
    twin_cls.__doc__ = f"tf_keras twin of the Keras 3 layer {cls.__module__}.{cls.__qualname__}."
    for key, value in cls.__dict__.items():
        if key not in _SKIP:
            setattr(twin_cls, key, _rebind(value, cls, twin_cls))
    setattr(twin_cls, _TWIN_OF, cls)
    return twin_cls


def _builtin_twin(base: type) -> type | None:
    """tf_keras' class of the same name for a Keras 3 built-in layer class, else None."""
    if not base.__module__.startswith("keras.src.layers"):
        return None
    twin = getattr(keras.layers, base.__name__, None)
    return twin if isinstance(twin, type) and issubclass(twin, keras.layers.Layer) else None


def _rebind(value: Any, old: type, new: type) -> Any:
    """A function of `old` whose zero-argument super() refers to `new` instead."""
    if isinstance(value, staticmethod):
        return staticmethod(_rebind(value.__func__, old, new))
    if isinstance(value, classmethod):
        return classmethod(_rebind(value.__func__, old, new))
    if isinstance(value, property):
        return property(*(_rebind(f, old, new) if f else None for f in (value.fget, value.fset, value.fdel)))
    if not isinstance(value, types.FunctionType) or "__class__" not in value.__code__.co_freevars:
        return value
    cells = tuple(
        types.CellType(new) if name == "__class__" else cell
        for name, cell in zip(value.__code__.co_freevars, value.__closure__ or ())
    )
    fn = types.FunctionType(value.__code__, value.__globals__, value.__name__, value.__defaults__, cells)
    fn.__kwdefaults__ = value.__kwdefaults__
    fn.__qualname__ = value.__qualname__
    fn.__dict__.update(value.__dict__)
    return fn
