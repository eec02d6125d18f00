"""A Keras 3 model config rewritten as the tf_keras config of the same model.

It is a translation of configs, not a re-implementation of layers: every layer
becomes the tf_keras layer of the same class name with the same arguments. The
rules (`Translator`):

- the model: Functional and Sequential configs keep their layers in order;
  `input_layers`/`output_layers` become lists of `[layer, node, tensor]`;
  a nested Functional or Sequential model is inlined (`nested.py`), so the
  tf_keras model is flat, as tfmot needs.
- InputLayer: `batch_shape` -> `batch_input_shape`; `optional` is dropped.
- MultiHeadAttention: `query_shape`/`key_shape`/`value_shape` = None (tf_keras'
  from_config reads them; the layer is built when called).
- BatchNormalization: `fused=False`, tf_keras' path through the same TensorFlow
  ops Keras 3 uses (the fused kernel rounds differently: 1e-5 apart after the
  50 BatchNorms of a calibrated ResNet50; unfused, outputs are bit-identical).
- dtype policies: `{"class_name": "DTypePolicy", "config": {"name": "float32"}}`
  -> `"float32"` (a quantized policy is refused: its weights are not float).
- nested objects (initializers, regularizers, constraints, an RNN's layer):
  `{"module", "class_name", "config", "registered_name"}` -> tf_keras'
  `{"class_name", "config"}` with the same rules applied inside.
- constructor arguments the tf_keras class does not take are dropped (Keras 3
  additions such as `synchronized`, `lora_rank`, `use_cudnn`, `input_axes`);
  `notes` names each one whose value was not Keras 3's default.
- activations: names both Kerases define the same way pass as they are;
  `hard_sigmoid` and `hard_silu`/`hard_swish` (defined differently or absent
  in tf_keras) become the registered tf_keras functions of `activations.py`;
  any other Keras 3-only activation is refused.
- inbound nodes: Keras 3's `{"args": [...], "kwargs": {...}}` with
  `__keras_tensor__` entries -> tf_keras' nested `[layer, node, tensor, kwargs]`.
  Extra positional tensors become the keyword of tf_keras' `call` at that
  position; a `None` keyword tf_keras' `call` does not take is dropped.
- Layers: built-in layers are looked up by class name in `tf_keras.layers`;
  custom layers through `resolve_custom` (see `twins.py`); Keras 3 operations
  (`x + 3.0`, `keras.ops.relu(x)` on symbolic tensors) become TFOpLambda layers
  (`operations.py`), except those that only compute a mask (below); Lambda
  layers are refused with the layer to use instead.
- masks: Keras 3 records the mask an `Embedding(mask_zero=True)` computes as
  operations feeding the next call's `mask=`; tf_keras propagates masks itself,
  so those operations and keywords are left out, as is a recorded `training=`
  (the outer call decides, as in Keras 3).

Everything that cannot be translated raises one LthError naming the layer and
the fix. The output check after building (`check.py`) is the safety net for
anything a rule gets wrong.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from lth_tf.core.errors import LthError
from lth_tf.keras_side.keras3 import activations, nested, operations
from lth_tf.keras_side.keras3.nested import MODEL_CLASSES
from lth_tf.platform.backend import keras

# What tf_keras' base Layer.__init__ takes besides trainable, name, dtype, dynamic.
_BASE_KWARGS = frozenset(
    {"input_dim", "input_shape", "batch_input_shape", "batch_size", "weights",
     "activity_regularizer", "autocast", "implementation", "trainable", "name", "dtype", "dynamic"}
)
_NESTED_MODULES = {
    "keras.initializers": keras.initializers,
    "keras.regularizers": keras.regularizers,
    "keras.constraints": keras.constraints,
}
_REFUSED_LAYERS = {
    "Lambda": "its function is Python code that Keras 3 serialises for Keras 3 only; "
    "replace it with a built-in layer or a registered custom layer",
    "TFSMLayer": "it wraps a SavedModel, not layers; translate the original model instead",
    "TorchModuleWrapper": "it wraps a PyTorch module; rebuild it with Keras layers",
    "JaxLayer": "it wraps a JAX function; rebuild it with Keras layers",
    "FlaxLayer": "it wraps a Flax module; rebuild it with Keras layers",
}


# Arguments tf_keras classes take through **kwargs (popped in __init__, not in a signature).
_POPPED = {"RNN": {"zero_output_for_mask", "input_length"}, "BaseDenseAttention": {"causal"}}


def accepted_arguments(cls: type) -> frozenset[str] | None:
    """Keyword arguments `cls.__init__` takes (following **kwargs up the MRO); None = any."""
    names: set[str] = set()
    for klass in cls.__mro__:
        names |= _POPPED.get(klass.__name__, set())
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        if klass is keras.layers.Layer:
            return frozenset(names | _BASE_KWARGS)
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return None
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return frozenset(names - {"self"})
    return None  # not a tf_keras Layer (an initializer without **kwargs returns above)


def call_parameters(cls: type) -> list[str]:
    """Names of `cls.call`'s parameters after `inputs` (empty if it takes **kwargs only)."""
    try:
        params = list(inspect.signature(cls.call).parameters.values())
    except (TypeError, ValueError, AttributeError):
        return []
    return [p.name for p in params[2:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _takes_any_keyword(cls: type) -> bool:
    try:
        params = inspect.signature(cls.call).parameters.values()
    except (TypeError, ValueError, AttributeError):
        return False
    return any(p.kind is p.VAR_KEYWORD for p in params)


def is_serialized(obj: Any) -> bool:
    return isinstance(obj, dict) and "class_name" in obj and "config" in obj


def is_keras_tensor(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("class_name") == "__keras_tensor__"


class Translator:
    """Translates one model's config; `notes` collects what was changed on the way.

    `resolve_custom(entry)` returns the tf_keras class for a custom layer's
    serialized entry (or raises LthError); `defaults(class_name)` the Keras 3
    constructor defaults of a built-in layer (for notes only).
    """

    def __init__(
        self,
        resolve_custom: Callable[[dict], type],
        defaults: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        self.resolve_custom = resolve_custom
        self.defaults = defaults or (lambda class_name: {})
        self.notes: list[str] = []
        self.custom_objects: dict[str, type] = {}
        self.mask_ops: set[str] = set()

    # -- models ---------------------------------------------------------------------

    def model(self, class_name: str, config: dict) -> dict:
        """A Functional or Sequential model's tf_keras config."""
        if class_name == "Sequential":
            out = {k: v for k, v in config.items() if k not in ("layers", "dtype", "trainable")}
            out["layers"] = [self.serialized_layer(entry) for entry in config["layers"]]
            return out
        if "layers" not in config:
            raise LthError(
                f"model '{config.get('name')}' ({class_name}) has no functional config; "
                "build it as a functional or Sequential Keras model"
            )
        config = nested.flattened(config)
        self.mask_ops |= mask_only_operations(config)
        return {
            "name": config.get("name"),
            "trainable": config.get("trainable", True),
            "layers": [
                self.functional_layer(entry) for entry in config["layers"] if entry["name"] not in self.mask_ops
            ],
            "input_layers": _node_list(config["input_layers"]),
            "output_layers": _node_list(config["output_layers"]),
        }

    def functional_layer(self, entry: dict) -> dict:
        """One entry of a Functional config's `layers`, with its inbound nodes."""
        if is_operation(entry):
            return operations.functional_entry(entry)
        out = self.serialized_layer(entry)
        cls = self._class_of(out, entry)
        out["name"] = entry["name"]
        out["inbound_nodes"] = [self.node(node, cls, entry["name"]) for node in entry["inbound_nodes"]]
        return out

    # -- layers ---------------------------------------------------------------------

    def serialized_layer(self, entry: dict) -> dict:
        """{"class_name", "config"} of tf_keras for a serialized Keras 3 layer."""
        class_name = entry["class_name"]
        module = entry.get("module") or ""
        name = entry.get("config", {}).get("name", entry.get("name"))
        if is_operation(entry):  # outside a functional model's layers (a Sequential's)
            raise LthError(
                f"layer '{name}' is the Keras 3 operation {class_name}, which only a functional "
                "model can hold; use a keras.layers layer"
            )
        if class_name in MODEL_CLASSES and module.startswith("keras"):
            nested = "Sequential" if class_name == "Sequential" else "Functional"
            return {"class_name": nested, "config": self.model(nested, entry["config"])}
        if class_name in _REFUSED_LAYERS and module.startswith("keras"):
            raise LthError(f"layer '{name}' is a Keras 3 {class_name}: {_REFUSED_LAYERS[class_name]}")
        if _is_builtin(entry):
            cls = getattr(keras.layers, class_name, None)
            if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
                raise LthError(
                    f"layer '{name}' is a Keras 3 {class_name}, which tf_keras (Keras 2) does not have; "
                    "replace it with a layer both have, or a registered custom layer"
                )
            key = class_name
        else:
            cls = self.resolve_custom(entry)
            key = entry.get("registered_name") or class_name
            self.custom_objects[key] = cls
        config = self.layer_config(cls, class_name, entry.get("config", {}), name)
        return {"class_name": key, "config": config}

    def layer_config(self, cls: type, class_name: str, config: dict, name: str) -> dict:
        out = {k: self.value(v, f"{name}.{k}") for k, v in config.items()}
        if class_name == "BatchNormalization" and issubclass(cls, keras.layers.BatchNormalization):
            # Keras 3 normalises with tf.nn.batch_normalization; tf_keras' fused kernel
            # rounds differently (1e-5 after 50 layers), its unfused path is the same ops.
            out["fused"] = False
        if class_name == "MultiHeadAttention":
            for key in ("query_shape", "key_shape", "value_shape"):
                out.setdefault(key, None)  # tf_keras' from_config reads them; None: built on call
        if class_name == "InputLayer":
            if "batch_shape" in out:
                out["batch_input_shape"] = out.pop("batch_shape")
            out.pop("optional", None)
        accepted = accepted_arguments(cls)
        if accepted is not None:
            accepted |= {"query_shape", "key_shape", "value_shape"} if class_name == "MultiHeadAttention" else set()
            defaults = self.defaults(class_name) if _is_builtin_class(cls) else {}
            for key in sorted(set(out) - accepted):
                out.pop(key)
                if defaults.get(key, None) != config.get(key):
                    self.notes.append(
                        f"layer '{name}': dropped {key}={config.get(key)!r} (tf_keras {class_name} has no such argument)"
                    )
        for key in ("activation", "recurrent_activation"):
            if isinstance(out.get(key), str):
                out[key] = activations.tf_keras_name(out[key], name)
        return out

    def value(self, value: Any, where: str) -> Any:
        """A config value with nested Keras 3 objects translated."""
        if isinstance(value, list):
            return [self.value(v, where) for v in value]
        if not isinstance(value, dict):
            return value
        if not is_serialized(value):
            return {k: self.value(v, where) for k, v in value.items()}
        class_name, module = value["class_name"], value.get("module") or ""
        if class_name.endswith("DTypePolicy"):
            if "Quantized" in class_name:
                raise LthError(
                    f"{where} is a quantized dtype policy ({class_name}); "
                    "translate the float model, before quantizing it"
                )
            return value["config"]["name"]
        if class_name == "function":
            return activations.tf_keras_function(value, where)
        target = _NESTED_MODULES.get(module)
        if module.startswith("keras.layers") or class_name in MODEL_CLASSES:
            return self.serialized_layer(value)  # an RNN's cell, a Bidirectional's layer, ...
        if target is None and value.get("registered_name"):
            return self.serialized_layer(value)  # a custom object: its tf_keras twin
        if target is None:
            raise LthError(
                f"{where} is a {module or 'custom'} {class_name} that tf_keras cannot rebuild; "
                "use a built-in Keras object there"
            )
        cls = getattr(target, class_name, None)
        if cls is None:
            raise LthError(
                f"{where} is the Keras 3 {class_name}, which tf_keras does not have; use one both have"
            )
        inner = {k: self.value(v, where) for k, v in (value.get("config") or {}).items()}
        accepted = accepted_arguments(cls)
        if accepted is not None:
            inner = {k: v for k, v in inner.items() if k in accepted}
        return {"class_name": class_name, "config": inner}

    # -- nodes ----------------------------------------------------------------------

    def node(self, node: dict, cls: type, layer: str) -> Any:
        """A Keras 3 inbound node as tf_keras' nested [layer, node, tensor, kwargs]."""
        args, kwargs = list(node.get("args", [])), dict(node.get("kwargs", {}))
        if not args:
            raise LthError(f"layer '{layer}' is called without inputs; call it on a tensor")
        extra = args[1:]
        if extra:
            names = call_parameters(cls)
            if len(extra) > len(names):
                raise LthError(
                    f"layer '{layer}' is called with {len(args)} positional arguments, "
                    f"tf_keras {cls.__name__}.call takes {len(names) + 1}; pass them by keyword"
                )
            kwargs.update(zip(names, extra))
        takes = set(call_parameters(cls))
        any_keyword = _takes_any_keyword(cls)
        call_kwargs = {}
        for key, value in kwargs.items():
            if key == "training" or (key == "mask" and self._from_mask_op(value)):
                continue  # training comes from the outer call; tf_keras propagates masks itself
            if key in takes or any_keyword:
                call_kwargs[key] = _tensor_refs(value)
            elif value is not None:
                raise LthError(
                    f"layer '{layer}' is called with {key}={value!r}, which tf_keras "
                    f"{cls.__name__}.call does not take; call it without {key}"
                )

        def ref(t: Any) -> Any:
            if is_keras_tensor(t):
                return [*t["config"]["keras_history"], call_kwargs]
            if isinstance(t, list):
                return [ref(x) for x in t]
            if isinstance(t, dict):
                return {k: ref(x) for k, x in t.items()}
            raise LthError(
                f"layer '{layer}' is called on a constant ({t!r}), not a tensor; "
                "make it a layer argument or an Input"
            )

        inputs = ref(args[0])
        # tf_keras' node: a list of tensor entries (one entry for a single tensor).
        return [inputs] if _is_entry(inputs) else inputs

    def _from_mask_op(self, value: Any) -> bool:
        refs = _tensors(value)
        return bool(refs) and all(t["config"]["keras_history"][0] in self.mask_ops for t in refs)

    def _class_of(self, out: dict, entry: dict) -> type:
        key = out["class_name"]
        if key in self.custom_objects:
            return self.custom_objects[key]
        if key == "Functional":
            return keras.Model
        return getattr(keras.layers, key, keras.layers.Layer)


def _tensors(value: Any) -> list[dict]:
    """Every `__keras_tensor__` entry inside a node argument."""
    if is_keras_tensor(value):
        return [value]
    if isinstance(value, list):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict) and not is_serialized(value):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def is_operation(entry: dict) -> bool:
    """True for a Keras 3 operation (`keras.ops.*` on symbolic tensors), not a layer."""
    module = entry.get("module") or ""
    return module.startswith(("keras.src.ops", "keras.ops"))


def mask_only_operations(config: dict) -> set[str]:
    """Names of the operations whose outputs only ever serve as `mask=` of a call.

    Keras 3 records the mask an Embedding(mask_zero=True) computes as operations
    (NotEqual, ...) feeding the next layer's `mask` keyword; tf_keras computes and
    passes masks itself, so these operations and keywords are left out.
    """
    ops = {e["name"] for e in config["layers"] if is_operation(e)}
    uses: dict[str, set[tuple[str, bool]]] = {name: set() for name in ops}
    for entry in config["layers"]:
        for node in entry.get("inbound_nodes", []):
            plain = list(node.get("args", [])) + [v for k, v in node.get("kwargs", {}).items() if k != "mask"]
            for t in _tensors(plain):
                uses.setdefault(t["config"]["keras_history"][0], set()).add((entry["name"], False))
            for t in _tensors(node.get("kwargs", {}).get("mask")):
                uses.setdefault(t["config"]["keras_history"][0], set()).add((entry["name"], True))
    outputs = {ref[0] for ref in _node_list(config["output_layers"])}
    found = ops - outputs
    changed = True
    while changed:
        changed = False
        for name in sorted(found):
            if any(not is_mask and user not in found for user, is_mask in uses[name]):
                found.discard(name)
                changed = True
    return found


def _is_entry(x: Any) -> bool:
    return isinstance(x, list) and len(x) == 4 and isinstance(x[0], str)


def _tensor_refs(value: Any) -> Any:
    """A keyword value with Keras 3 tensors as tf_keras' [layer, node, tensor] lists."""
    if is_keras_tensor(value):
        return list(value["config"]["keras_history"])
    if isinstance(value, list):
        return [_tensor_refs(v) for v in value]
    if isinstance(value, dict) and not is_serialized(value):
        return {k: _tensor_refs(v) for k, v in value.items()}
    return value


def _node_list(spec: Any) -> list:
    """input_layers/output_layers as a list of [layer, node, tensor]."""
    if isinstance(spec, dict):
        return [list(v) for v in spec.values()]
    if isinstance(spec, list) and spec and isinstance(spec[0], str):
        return [list(spec)]
    return [list(s) for s in spec]


def _is_builtin(entry: dict) -> bool:
    module = entry.get("module") or ""
    return module.startswith(("keras.layers", "keras.src.layers"))


def _is_builtin_class(cls: type) -> bool:
    return cls.__module__.startswith("tf_keras.")
