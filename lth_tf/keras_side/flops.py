"""Multiply-adds (MACs) of a Keras model per example, dense and counting only nonzero weights.

    rows = layer_macs(model)                 # one LayerMacs per layer with a kernel
    total = model_macs(model)                # ModelMacs(dense, nonzero, params, nonzero_params)
    total = model_macs(model, graph=GraphSize(nodes=2708, adjacency_nnz=13264))
    cost = served_cost(model, graph)         # an export marker's `cost`: params, MACs, nonzeros

A kernel of W entries applied at P positions costs W * P MACs: P = 1 for Dense
on a vector, the output's spatial size (H*W) for a convolution, the time steps
for an RNN. "Nonzero" counts only the kernel entries that are not zero (or, with
`masks`, not masked), i.e. what a sparse kernel would cost; that is the usual
theoretical figure for pruned networks, not what dense CPU kernels spend.
Biases, activations, normalisation and pooling are not counted (a few per cent
of a convolution's cost at most).

Graphs: an example is one node (the GCN trains on all N nodes of the graph in
every step). A GCN layer computes A (X W): X W costs the kernel per node, and the
sparse product with A costs `adjacency_nnz * units` per graph, i.e. that over N
per node, whatever the kernel's sparsity (`LayerMacs.extra`). X W is counted as
if X were dense, so for sparse bag-of-words features this overstates the real work.

Training FLOPs of a step are estimated as 3 x 2 x MACs per example x examples
(forward, and a backward pass that costs about twice the forward): see `train_flops`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lth_tf.platform.backend import keras

# Forward + backward (weights and activations) ~ 3 forward passes; 2 FLOPs per MAC.
PASSES_PER_STEP = 3
FLOPS_PER_MAC = 2

# Weight names (the part after the last "/") that are multiplied with the input.
KERNEL_NAMES = ("kernel", "depthwise_kernel", "pointwise_kernel", "recurrent_kernel")
# tfmot's PruneLowMagnitude variables: pruning state, not weights of the model.
_WRAPPER_VARIABLES = ("mask", "threshold", "pruning_step")


@dataclass(frozen=True)
class GraphSize:
    """What a graph layer's sparse adjacency product costs: node and edge counts."""

    nodes: int
    adjacency_nnz: int


@dataclass(frozen=True)
class LayerMacs:
    """One layer's multiply-adds per example."""

    name: str  # the original layer name (also under a pruning wrapper)
    kind: str  # the layer's class name
    weights: int  # kernel entries
    nonzero: int  # kernel entries that are not zero / not masked
    positions: int  # times the kernel is applied per example
    extra: float = 0.0  # MACs that do not depend on the kernel's sparsity (GCN adjacency)

    @property
    def dense_macs(self) -> float:
        return self.weights * self.positions + self.extra

    @property
    def macs(self) -> float:
        return self.nonzero * self.positions + self.extra


@dataclass(frozen=True)
class ModelMacs:
    """A model's MACs per example and its parameter counts."""

    dense: float  # every kernel entry counted
    nonzero: float  # only nonzero (kept) kernel entries
    params: int  # trainable parameters (kernels, biases, norms)
    nonzero_params: int  # of those, the nonzero ones

    def as_dict(self) -> dict[str, float | int]:
        return {
            "dense_macs": self.dense,
            "macs": self.nonzero,
            "params": self.params,
            "nonzero_params": self.nonzero_params,
        }


def inference_size(model: keras.Model, graph: GraphSize | None = None) -> dict[str, float | int]:
    """What one example costs `model` at inference: the one definition used in reports.

    {"params": every weight the model stores (kernels, biases, BatchNorm vectors
    incl. moving statistics; a pruning wrapper's mask, threshold and step are not
    the model's), "nonzeros": those that are not zero, "flops": FLOPS_PER_MAC x
    MACs of the nonzero kernel entries}. Give it the model as it would be served:
    the masked (wrapped or stripped) model, or the narrowed one for channel pruning.
    """
    params = nonzeros = 0
    for w in model.weights:
        if _short(w) in _WRAPPER_VARIABLES:
            continue
        values = np.asarray(w.numpy())
        params += values.size
        nonzeros += int(np.count_nonzero(values))
    macs = model_macs(model, graph=graph).nonzero
    return {"params": params, "nonzeros": nonzeros, "flops": float(FLOPS_PER_MAC * macs)}


def served_cost(model: keras.Model, graph: GraphSize | None = None) -> dict[str, int | str]:
    """What an exported (plain) model stores and runs, the export marker's `cost`:
    {"params": every weight it stores (`inference_size`; a narrowed model's own count),
    "nonzero_params": those not zero, "macs": multiply-adds per example of every kernel
    entry (what dense kernels run: `narrow.costs`' figure), "nonzero_macs": of the
    nonzero entries only (what a sparse kernel would run), "per": "example", or "node"
    for a graph model}."""
    size = inference_size(model, graph)
    macs = model_macs(model, graph=graph)
    return {
        "params": int(size["params"]),
        "nonzero_params": int(size["nonzeros"]),
        "macs": round(macs.dense),
        "nonzero_macs": round(macs.nonzero),
        "per": "node" if graph is not None else "example",
    }


def train_flops(macs_per_example: float, examples: int) -> float:
    """Estimated FLOPs of training on `examples` examples at `macs_per_example`."""
    return float(PASSES_PER_STEP * FLOPS_PER_MAC * macs_per_example * examples)


def training_cost(model: keras.Model, training: Any, data: object) -> dict[str, Any]:
    """What one training of `model` cost: examples, steps, seconds, estimated FLOPs, model size.

    `training` is a `train.RoundTraining`. The masks are fixed during a training, so
    MACs per example are read once from the (masked) kernels after it.
    """
    macs = model_macs(model, graph=graph_size(data))
    return {
        "examples": training.examples,
        "steps": training.steps,
        "epochs": training.epochs_run,
        "seconds": training.seconds,
        "train_flops": train_flops(macs.nonzero, training.examples),
        **macs.as_dict(),  # dense_macs, macs (nonzero, per example), params, nonzero_params
    }


def layer_macs(
    model: keras.Model,
    masks: Mapping[str, np.ndarray] | None = None,
    graph: GraphSize | None = None,
) -> list[LayerMacs]:
    """Per-layer MACs per example of `model` (plain or wrapped for pruning).

    Args:
        model: a built Keras model; nested models are walked into.
        masks: optional `{mask key: 0/1 mask}` (lth_tf's keys: the layer name for a
            layer's first pruned weight, "layer/weight" for others). A masked entry
            counts as zero whatever the kernel holds; without masks, zeros in the
            kernel are what count.
        graph: the graph's size, for graph layers (inputs `[x, a]`).
    """
    rows: list[LayerMacs] = []
    for layer in _leaf_layers(model):
        inner = getattr(layer, "layer", layer)  # tfmot's PruneLowMagnitude holds `.layer`
        kernels = [w for w in inner.weights if _short(w) in KERNEL_NAMES]
        if not kernels or isinstance(inner, keras.layers.Embedding):
            continue  # an embedding is a lookup, no multiply-adds
        weights = nonzero = 0
        for w in kernels:
            values = np.asarray(w.numpy())
            mask = _mask_for(masks, inner.name, w, values.shape)
            kept = values if mask is None else values * mask
            weights += values.size
            nonzero += int(np.count_nonzero(kept))
        positions, extra = _positions(layer, inner, graph)
        rows.append(LayerMacs(inner.name, type(inner).__name__, weights, nonzero, positions, extra))
    return rows


def model_macs(
    model: keras.Model,
    masks: Mapping[str, np.ndarray] | None = None,
    graph: GraphSize | None = None,
) -> ModelMacs:
    """Total MACs per example (dense and nonzero) and parameter counts of `model`."""
    rows = layer_macs(model, masks, graph)
    params = nonzero_params = 0
    for w in model.trainable_weights:
        values = np.asarray(w.numpy())
        params += values.size
        nonzero_params += int(np.count_nonzero(values))
    return ModelMacs(
        dense=float(sum(r.dense_macs for r in rows)),
        nonzero=float(sum(r.macs for r in rows)),
        params=params,
        nonzero_params=nonzero_params,
    )


def graph_size(data: object) -> GraphSize | None:
    """The GraphSize of graph data (`kind == "graph"`, CSR adjacency `a`), else None."""
    if getattr(data, "kind", None) != "graph":
        return None
    a = data.a  # type: ignore[attr-defined]
    return GraphSize(nodes=int(a.shape[0]), adjacency_nnz=int(a.nnz))


# -- helpers ---------------------------------------------------------------------------------
def _leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    out: list[keras.layers.Layer] = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(_leaf_layers(layer))
        else:
            out.append(layer)
    return out


def _short(weight) -> str:
    return weight.name.split(":")[0].rsplit("/", 1)[-1]


def _mask_for(masks, layer_name: str, weight, shape: tuple) -> np.ndarray | None:
    """The mask of `weight` in `masks`: keyed "layer/weight", or by the layer for its first pruned weight."""
    if not masks:
        return None
    for key in (f"{layer_name}/{_short(weight)}", layer_name):
        m = masks.get(key)
        if m is not None and np.shape(m) == shape:
            return np.asarray(m)
    return None


def _positions(layer, inner, graph: GraphSize | None) -> tuple[int, float]:
    """(times the kernel is applied per example, sparsity-independent MACs per example)."""
    if isinstance(inner, keras.layers.RNN):
        steps = _shape(layer.input)[1]
        return (steps if isinstance(steps, int) else 1), 0.0
    out = _shape(layer.output)
    if _is_graph_layer(layer):
        if graph is None:
            return 1, 0.0
        units = out[-1] or 0
        return 1, graph.adjacency_nnz * units / graph.nodes
    if isinstance(inner, (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                          keras.layers.Conv3DTranspose)):
        spatial = _shape(layer.input)[1:-1]  # each input position meets the whole kernel
    else:
        spatial = out[1:-1]  # channels last: every output position applies the kernel once
    if any(not isinstance(d, int) for d in spatial):
        return 1, 0.0  # unknown spatial size (variable-size inputs): count one position
    return math.prod(spatial), 0.0


def _is_graph_layer(layer) -> bool:
    inputs = layer.input
    return isinstance(inputs, (list, tuple)) and len(inputs) == 2 and len(_shape(inputs[1])) == 2


def _shape(tensor) -> tuple:
    return tuple(tensor.shape)
