"""The sparse SavedModel: pruned kernels stored without their zeros, rebuilt in the graph.

What is saved is a `tf.Module` (lth_tf.export.compressed.Compressed) whose only
variable is one uint8 `blob`: the pruned kernels' nonzero values, the other
float32 weights, the kernels' nonzero bits (plus one flat variable per dtype
for other weights that are not float32), and the same serving signatures as the
dense export (lth_tf.export.signatures), traced through the Keras model with
each of its weights replaced, while tracing, by a tensor computed from the blob
(lth_tf.export.serving_model.ServingModel).
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

from typing import Any

from lth_tf.export.compressed import Compressed
from lth_tf.export.serving_model import ServingModel, check_captures
from lth_tf.platform.backend import tf

# A Dense/GCN kernel at least this sparse is multiplied as a tf.SparseTensor.
DEFAULT_THRESHOLD = 0.9


# -- building the export ----------------------------------------------------------------------
def pruned_weights(wrapped, plain) -> list[Any]:
    """The variables of `plain` (P.strip(wrapped)) that `wrapped`'s wrappers prune."""
    from lth_tf.keras_side import pruning as P

    found = []
    for w in P.wrappers(wrapped):
        inner = list(w.layer.weights)
        layer = plain.get_layer(w.layer.name)
        for weight, _mask, _threshold in w.pruning_vars:
            at = next(i for i, v in enumerate(inner) if v is weight)
            found.append(layer.weights[at])
    return found


def default_pruned(model) -> list[Any]:
    """The weights lth_tf would prune in `model` (those of tfmot's wrappers)."""
    from lth_tf.keras_side import pruning as P

    return pruned_weights(P.wrap(model), model)


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
