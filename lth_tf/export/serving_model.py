"""The Keras model served with its weights computed from a `Compressed` blob.

`ServingModel` stands in for the Keras model while lth_tf.export.signatures
traces the serving signatures: each trace replaces every weight attribute of
the model's layers by a tensor rebuilt from the blob (and the call of a Dense
or GCN layer whose kernel is sparse enough by one that multiplies by a
tf.SparseTensor, lth_tf.export.sparse_calls), then puts the variables back.
`check_captures` proves afterwards that no trace read a Keras variable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lth_tf.core.errors import LthError
from lth_tf.export import packing
from lth_tf.export.compressed import Compressed
from lth_tf.export.sparse_calls import dense_call, gcn_call, is_gcn, sparse_capable
from lth_tf.platform.backend import tf


# -- which weights, and where their layers keep them -------------------------------------------
def _layers(model) -> list[Any]:
    return list(model._flatten_layers(include_self=False, recursive=True))


def _weights(model) -> list[Any]:
    """Every variable of `model` once, in model.weights order."""
    seen, out = set(), []
    for w in model.weights:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out


def _holders(model, variables: dict[int, Any]) -> list[tuple[Any, str, Any]]:
    """(layer, attribute, variable) for every layer attribute holding one of `variables`."""
    found = []
    for layer in _layers(model):
        for attr, value in list(vars(layer).items()):
            if id(value) in variables and not attr.startswith("_"):
                found.append((layer, attr, value))
    return found


class ServingModel:
    """Stands in for the Keras model in lth_tf.export.signatures: same inputs and
    outputs; each call (i.e. each trace) computes the weights from `weights` and
    runs the Keras model with them in place of its variables."""

    def __init__(self, model, pruned: list[Any], threshold: float):
        self.model = model
        self.inputs, self.outputs = model.inputs, model.outputs
        pruned_ids = {id(v) for v in pruned}
        for v in pruned:
            if v.dtype != tf.float32:
                raise LthError(f"pruned weight {v.name} is {v.dtype.name}; the sparse export "
                               "packs float32 kernels only, use --format dense")
        self._pruned = [v for v in _weights(model) if id(v) in pruned_ids]
        self._others = [v for v in _weights(model) if id(v) not in pruned_ids]
        arrays = [v.numpy() for v in self._pruned]
        packed = packing.pack(arrays)
        self.weights = Compressed(packed, [v.numpy() for v in self._others])
        self.bound_bytes = packing.bound_bytes(arrays, [v.numpy() for v in self._others])
        self.nonzeros = int(packed.values.size)
        everything = {id(v): v for v in _weights(model)}
        self._holders = _holders(model, everything)
        held = {id(v) for _, _, v in self._holders}
        missing = [v.name for v in everything.values() if id(v) not in held]
        if missing:
            raise LthError(f"the sparse export cannot find the layer attribute holding {missing[0]}; "
                           "use --format dense for this model")
        index = {id(v): i for i, v in enumerate(self._pruned)}
        self.traced_sparse: set[str] = set()  # layers whose trace used the sparse product
        self.sparse_layers = sorted({
            layer.name for layer, attr, v in self._holders
            if id(v) in index and sparse_capable(layer, attr, tuple(v.shape))
            and 1.0 - packed.slots[index[id(v)]].nonzeros / max(1, v.shape.num_elements()) >= threshold
        })

    def __call__(self, inputs, training=False):
        with self._substituted():
            return self.model(inputs, training=False)

    @contextmanager
    def _substituted(self) -> Iterator[None]:
        """The model's weights replaced by tensors of the current graph, then put back."""
        w = self.weights
        mask = w.mask()
        # one tf.where per kernel, shared by its dense and sparse forms; independent ops
        # per kernel also let TensorFlow rebuild them in parallel
        positions = [w.positions(mask, i) for i in range(len(self._pruned))]
        tensors = {id(v): w.kernel(positions[i], i) for i, v in enumerate(self._pruned)}
        tensors.update({id(v): t for v, t in zip(self._others, w.others_list())})
        index = {id(v): i for i, v in enumerate(self._pruned)}
        patched = []
        try:
            for layer, attr, v in self._holders:
                t = tensors[id(v)]
                if v.dtype != layer.compute_dtype and v.dtype.is_floating:
                    t = tf.cast(t, layer.compute_dtype)  # mixed precision: Keras autocasts reads
                patched.append((layer, attr, v))
                object.__setattr__(layer, attr, t)  # bypass Keras tracking: nothing is untracked
            for layer, attr, v in self._holders:
                if layer.name in self.sparse_layers and attr == "kernel":
                    sp = w.sparse_kernel(positions[index[id(v)]], index[id(v)])
                    if layer.compute_dtype != sp.dtype:  # mixed precision
                        sp = tf.SparseTensor(sp.indices, tf.cast(sp.values, layer.compute_dtype),
                                             sp.dense_shape)
                    dense = vars(layer)["kernel"]  # the substituted tensor (cast if need be)
                    make = gcn_call if is_gcn(layer) else dense_call
                    patched.append((layer, "call", vars(layer).get("call", _ABSENT)))
                    used = lambda name=layer.name: self.traced_sparse.add(name)
                    object.__setattr__(layer, "call", make(layer, lambda d=dense: d, sp, used))
            yield
        finally:
            for layer, attr, v in reversed(patched):
                if v is _ABSENT:
                    object.__delattr__(layer, attr)
                else:
                    object.__setattr__(layer, attr, v)


_ABSENT = object()


def check_captures(functions: dict[str, Any], module: Compressed) -> None:
    """Every traced signature reads only the module's variables (never the dense kernels)."""
    allowed = {id(v) for v in module.variables}
    for name, fn in functions.items():
        for v in fn.get_concrete_function().variables:
            if id(v) not in allowed:
                raise LthError(f"signature {name} still reads the dense weight {v.name}; "
                               "use --format dense for this model")
