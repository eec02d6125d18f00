"""Nested Keras 3 models inlined into one flat functional config.

The transfer-learning pattern `base = keras.applications.MobileNetV2(include_top=False)`,
`outputs = Dense(k)(base(inputs))` nests a model as a layer. tfmot wraps only
the layers of a flat model (lth_tf refuses nested ones), so the translation
inlines every nested Functional or Sequential model called once: its layers join
the outer model under their own names, its Input layers are replaced by the
tensors it was called on, and references to its outputs by its inner outputs.
The Keras 3 model given back (`back.to_keras3`) is the user's nested one; the
weights find their layers by name at any depth.

A nested model called more than once (shared weights) or whose layer names
clash with the outer model's is one LthError.
"""

from __future__ import annotations

from typing import Any

from lth_tf.core.errors import LthError

MODEL_CLASSES = ("Functional", "Sequential", "Model")


def is_nested_model(entry: dict) -> bool:
    module = entry.get("module") or ""
    return entry.get("class_name") in MODEL_CLASSES and module.startswith("keras")


def _tensor(name: str, node: int = 0, index: int = 0, dtype: str | None = None) -> dict:
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [name, node, index], "dtype": dtype}}


def _is_tensor(x: Any) -> bool:
    return isinstance(x, dict) and x.get("class_name") == "__keras_tensor__"


def _refs(spec: Any) -> list[list]:
    if isinstance(spec, dict):
        return [list(v) for v in spec.values()]
    if isinstance(spec, list) and spec and isinstance(spec[0], str):
        return [list(spec)]
    return [list(s) for s in spec]


def _flat_tensors(x: Any) -> list[dict]:
    if _is_tensor(x):
        return [x]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _flat_tensors(v)]
    if isinstance(x, dict):
        return [t for v in x.values() for t in _flat_tensors(v)]
    return []


def _substitute(x: Any, table: dict[tuple, dict]) -> Any:
    """`x` with every tensor reference found in `table` replaced."""
    if _is_tensor(x):
        return table.get(tuple(x["config"]["keras_history"]), x)
    if isinstance(x, list):
        return [_substitute(v, table) for v in x]
    if isinstance(x, dict):
        return {k: _substitute(v, table) for k, v in x.items()}
    return x


def sequential_as_functional(config: dict) -> dict:
    """A Keras 3 Sequential config as a functional one (inputs: its InputLayer, or '__call__')."""
    layers, prev = [], None
    for entry in config["layers"]:
        if entry.get("class_name") == "InputLayer":
            layers.append({**entry, "name": entry["config"]["name"], "inbound_nodes": []})
            prev = _tensor(entry["config"]["name"])
            continue
        name = entry["config"]["name"]
        inputs = prev if prev is not None else _tensor("__call__")
        layers.append({**entry, "name": name, "inbound_nodes": [{"args": [inputs], "kwargs": {}}]})
        prev = _tensor(name)
    first = layers[0]["name"] if layers and layers[0]["class_name"] == "InputLayer" else "__call__"
    return {"name": config.get("name"), "layers": layers, "input_layers": [[first, 0, 0]],
            "output_layers": [[layers[-1]["name"], 0, 0]]}


def flattened(config: dict) -> dict:
    """A Keras 3 functional config with every nested model called once inlined."""
    if not any(is_nested_model(e) for e in config["layers"]):
        return config
    outer_names = {e["name"] for e in config["layers"]}
    layers: list[dict] = []
    table: dict[tuple, dict] = {}  # (nested model, node, index) -> the tensor it stands for
    for entry in config["layers"]:
        entry = {**entry, "inbound_nodes": _substitute(entry.get("inbound_nodes", []), table)}
        if not is_nested_model(entry):
            layers.append(entry)
            continue
        name = entry["name"]
        if len(entry["inbound_nodes"]) != 1:
            raise LthError(
                f"the nested model '{name}' is called {len(entry['inbound_nodes'])} times; pruning needs "
                "each layer once: call it once, or build one functional model from its layers"
            )
        inner = entry["config"]
        inner = sequential_as_functional(inner) if entry["class_name"] == "Sequential" else inner
        inner = flattened(inner)
        node = entry["inbound_nodes"][0]
        given = _flat_tensors(node.get("args", [])[:1])
        inputs = _refs(inner["input_layers"])
        if len(given) != len(inputs):
            raise LthError(f"the nested model '{name}' takes {len(inputs)} inputs and is called on {len(given)}")
        inner_table = {(ref[0], ref[1], ref[2]): t for ref, t in zip(inputs, given)}
        input_names = {ref[0] for ref in inputs}
        for inner_entry in inner["layers"]:
            if inner_entry["name"] in input_names and inner_entry["class_name"] == "InputLayer":
                continue
            if inner_entry["name"] in outer_names:
                raise LthError(
                    f"the nested model '{name}' holds a layer named '{inner_entry['name']}' as the outer "
                    "model does; rename one of them"
                )
            nodes = _substitute(inner_entry.get("inbound_nodes", []), inner_table)
            layers.append({**inner_entry, "inbound_nodes": nodes})
        for j, ref in enumerate(_refs(inner["output_layers"])):
            table[(name, 0, j)] = _substitute(_tensor(*ref), inner_table)
    outputs = []
    for ref in _refs(config["output_layers"]):
        t = table.get(tuple(ref))
        outputs.append(list(t["config"]["keras_history"]) if t else ref)
    return {**config, "layers": layers, "output_layers": outputs}
