"""The sparse SavedModel: pruned kernels stored without their zeros, rebuilt in the graph.

What is saved is a `tf.Module` (`Compressed`) whose only variable is one uint8
`blob` (plus one flat variable per dtype for other weights that are not float32):

    the nonzero entries of every pruned kernel   float32, little-endian
    every other float32 weight (biases, BatchNorm...), flat
    the pruned kernels' nonzero pattern           1 bit a weight (lth_tf.export.packing)

and the same serving signatures as the dense export (lth_tf.export.signatures),
traced through the Keras model with each of its weights replaced, while
tracing, by a tensor computed from the blob: unpack the bits
(tf.bitwise), then per kernel tf.where and a segment sum put the values
in place.
The Keras model's own variables are never captured (checked after tracing), so
they are not saved, and the folder loads with `tf.saved_model.load` in plain
TensorFlow (not with `tf_keras.models.load_model`: it is not a Keras model).

Sparse inference: a Dense or GCN kernel at least `threshold` sparse is not
rebuilt dense; its layer multiplies by it as a `tf.SparseTensor`
(tf.sparse.sparse_dense_matmul; indices from tf.where over its bits at call
time, shared with the dense rebuild). A GCN layer whose input is itself sparse (the node features) keeps the
dense kernel: TensorFlow has no sparse-by-sparse SparseTensor product.
Convolutions are always rebuilt dense. benchmarks/efficiency.py measures what
this costs or saves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from lth_tf._keras import tf
from lth_tf.errors import LthError
from lth_tf.export import packing
from lth_tf.export.sparse_calls import dense_call, gcn_call, is_gcn, sparse_capable

# A Dense/GCN kernel at least this sparse is multiplied as a tf.SparseTensor.
DEFAULT_THRESHOLD = 0.9
_SHIFTS = np.arange(7, -1, -1, dtype=np.uint8)  # MSB first, as np.packbits


@dataclass(frozen=True)
class _Layout:
    slots: tuple[packing.Slot, ...]
    total: int
    other_at: tuple[tuple[str, int, tuple[int, ...]], ...]
    values: int  # nonzero values (float32) at the blob's start
    floats: int  # other float32 weights after them


class Compressed(tf.Module):
    """The variables of a sparse export and the arithmetic that turns them back into weights.

    One uint8 variable `blob` holds, byte for byte: the nonzero values (float32,
    little-endian), the other float32 weights, then the packed bits. One
    variable rather than three keeps the checkpoint's fixed cost (index entries,
    object graph: about 100 bytes a variable) small next to the bound of a tiny,
    very sparse model. Other weights of other dtypes get one variable per dtype.
    """

    def __init__(self, packed: packing.Packed, others: list[np.ndarray]):
        super().__init__(name="ticket")
        groups: dict[str, list[np.ndarray]] = {}
        other_at = []  # (dtype, offset in its group, shape) of every other weight
        for w in others:
            key = np.dtype(w.dtype).name
            offset = sum(a.size for a in groups.get(key, []))
            groups.setdefault(key, []).append(np.ravel(w))
            other_at.append((key, offset, tuple(w.shape)))
        floats = np.concatenate(groups.pop("float32", [np.zeros(0, np.float32)]))
        parts = [packed.values.astype("<f4").view(np.uint8), floats.astype("<f4").view(np.uint8),
                 packed.bits]
        self.blob = tf.Variable(np.concatenate(parts), trainable=False, name="blob")
        for key, group in groups.items():
            name = f"others_{key}"
            setattr(self, name, tf.Variable(np.concatenate(group), trainable=False, name=name))
        # Plain (untracked) object: the layout lives in the graph as constants, not in variables/.
        self._layout = _Layout(packed.slots, packed.total, tuple(other_at),
                               values=packed.values.size, floats=floats.size)

    def _floats(self, start: int, count: int):
        """float32 entries [start, start + count) of the blob's float part."""
        raw = self.blob[4 * start : 4 * (start + count)]
        return tf.bitcast(tf.reshape(raw, [count, 4]), tf.float32)

    def values(self, start: int = 0, count: int | None = None):
        count = self._layout.values - start if count is None else count
        return self._floats(start, count)

    def mask(self):
        """The unpacked nonzero pattern, (total,) bool."""
        bits = self.blob[4 * (self._layout.values + self._layout.floats) :]
        bits = tf.bitwise.right_shift(bits[:, None], tf.constant(_SHIFTS))
        bits = tf.reshape(tf.bitwise.bitwise_and(bits, 1), [-1])[: self._layout.total]
        return tf.cast(bits, tf.bool)

    def positions(self, mask, i: int):
        """Flat (row-major) positions of pruned kernel `i`'s nonzeros, (nonzeros,) int64."""
        s = self._layout.slots[i]
        return tf.where(mask[s.bit_offset : s.bit_offset + s.size])[:, 0]

    def kernel(self, positions, i: int):
        """Pruned kernel `i`, dense, zeros restored (each position gets exactly one value)."""
        s = self._layout.slots[i]
        values = self.values(s.value_offset, s.nonzeros)
        # unsorted_segment_sum: several times faster than scatter_nd on CPU; 0 + v is v exactly
        return tf.reshape(tf.math.unsorted_segment_sum(values, positions, s.size), s.shape)

    def sparse_kernel(self, positions, i: int):
        """Pruned kernel `i` (rank 2) as a tf.SparseTensor, entries in row-major order."""
        s = self._layout.slots[i]
        cols = s.shape[1]
        indices = tf.stack([positions // cols, positions % cols], axis=1)
        return tf.SparseTensor(indices, self.values(s.value_offset, s.nonzeros), s.shape)

    def others_list(self) -> list[Any]:
        out = []
        for key, offset, shape in self._layout.other_at:
            size = int(np.prod(shape, dtype=np.int64))
            if key == "float32":
                flat = self._floats(self._layout.values + offset, size)
            else:
                flat = getattr(self, f"others_{key}")[offset : offset + size]
            out.append(tf.reshape(flat, shape))
        return out


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


# -- building the export ----------------------------------------------------------------------
def pruned_weights(wrapped, plain) -> list[Any]:
    """The variables of `plain` (wrap.strip(wrapped)) that `wrapped`'s wrappers prune."""
    from lth_tf.pruning import wrap

    found = []
    for w in wrap.wrappers(wrapped):
        inner = list(w.layer.weights)
        layer = plain.get_layer(w.layer.name)
        for weight, _mask, _threshold in w.pruning_vars:
            at = next(i for i, v in enumerate(inner) if v is weight)
            found.append(layer.weights[at])
    return found


def default_pruned(model) -> list[Any]:
    """The weights lth_tf would prune in `model` (those of tfmot's wrappers)."""
    from lth_tf.pruning import wrap

    return pruned_weights(wrap.wrap(model), model)


def _generic(serving: ServingModel) -> tuple[dict[str, Any], dict[str, Any]]:
    """serving_default for a model signatures.build has no signature for: its inputs, its outputs by name."""
    specs = [
        tf.TensorSpec(i.shape, i.dtype, name) if isinstance(i.type_spec, tf.TensorSpec) else i.type_spec
        for i, name in zip(serving.inputs, serving.model.input_names, strict=True)
    ]
    names = list(serving.model.output_names)

    @tf.function(input_signature=specs)
    def default(*inputs):
        out = serving(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
        out = out if isinstance(out, (list, tuple)) else [out]
        return dict(zip(names, out, strict=True))

    return {"serving_default": default}, {"signatures": "model inputs in, outputs by name"}


def build(model, data: Any = None, pruned: list[Any] | None = None,
          threshold: float = DEFAULT_THRESHOLD) -> tuple[Compressed, dict[str, Any], dict[str, Any]]:
    """(module to save, its signatures, their description) of `model` exported sparse.

    `pruned`: the variables to pack without zeros (default `default_pruned(model)`).
    """
    from lth_tf.export import signatures as sig

    serving = ServingModel(model, default_pruned(model) if pruned is None else pruned, threshold)
    sigs, doc = sig.build(serving, data)
    if not sigs:
        sigs, doc = _generic(serving)
    check_captures(sigs, serving.weights)
    doc["weights"] = {
        "stored": "sparse: pruned kernels as a bit mask (uint8, MSB first) + nonzero float32 values",
        "pruned_weights": serving.weights._layout.total,
        "nonzeros": serving.nonzeros,
        "bound_bytes": serving.bound_bytes,
        "sparse_matmul_layers": sorted(serving.traced_sparse),
        "sparse_threshold": threshold,
    }
    return serving.weights, sigs, doc
