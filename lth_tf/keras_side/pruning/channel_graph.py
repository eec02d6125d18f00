"""Which layers of a Keras model can lose whole output channels: the `ChannelPlan`.

A producer is a Dense, Conv1D/2D/3D (channels last, groups 1, not transposed)
or Spektral GCNConv layer with an elementwise activation. Its channels can go
when its output reaches, through channel-wise layers only (BatchNormalization
on the last axis, elementwise activations, dropout and noise, pooling,
padding), nothing but further producers that read it as their features input,
and Flatten (its rows then repeat per channel). Anything else blocks it, with
the reason kept for the run's listing:

- a residual tie (Add, Concatenate, Multiply, ...): the other branch needs the
  same channels, e.g. ResNet-18's stem, each block's second conv and its
  shortcut conv; only each block's first conv can go;
- the model output (the logits layer, or a layer whose channels reach it);
- any layer this module does not know to be channel-wise (LayerNormalization,
  Reshape, Softmax, a custom layer, ...), or a layer called more than once.

Works on a plain or a wrapped model (wrapper names map to the inner layer's).
"""

from __future__ import annotations

import math
from typing import Any

from lth_tf.core.masks.channels import ChannelPlan, Consumer, Producer
from lth_tf.keras_side.pruning.wrappers import PruneLowMagnitude, prunable_layer_names
from lth_tf.platform.backend import keras

L = keras.layers

# Layers that act on each channel separately and keep the channel axis last.
_CHANNEL_WISE = (
    L.BatchNormalization, L.ReLU, L.LeakyReLU, L.ELU, L.Dropout, L.GaussianNoise,
    L.GaussianDropout, L.AlphaDropout, L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D,
    L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D, L.GlobalAveragePooling1D,
    L.GlobalAveragePooling2D, L.GlobalAveragePooling3D, L.GlobalMaxPooling1D,
    L.GlobalMaxPooling2D, L.GlobalMaxPooling3D, L.ZeroPadding1D, L.ZeroPadding2D,
    L.ZeroPadding3D, L.Activation,
)  # fmt: skip
# Activations that act elementwise (softmax mixes channels).
_ELEMENTWISE = {
    "linear", "relu", "relu6", "elu", "selu", "tanh", "sigmoid", "hard_sigmoid", "swish", "silu",
    "gelu", "softplus", "softsign", "exponential", "leaky_relu", "mish",
}  # fmt: skip
_TIES = (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum, L.Concatenate, L.Dot)


def channel_plan(model: keras.Model) -> ChannelPlan:
    """The producers of `model` whose channels can go, and why the others cannot."""
    g = _Graph(model)
    producers, blocked, classes = {}, {}, {}
    for layer in g.layers:
        if not _has_kernel(layer):
            continue
        name = layer.name
        classes[name] = type(layer).__name__
        why = _not_a_producer(layer) or (None if len(g.nodes[name]) == 1 else "called more than once")
        if why is None:
            found = _Walk(g).run(layer)
            if isinstance(found, str):
                why = found
            else:
                consumers, carriers = found
                producers[name] = Producer(name, _width(layer), consumers, carriers, _width_key(layer))
                continue
        blocked[name] = why
    return ChannelPlan(producers, blocked, classes)


def unpruned_channels(model: keras.Model, exclude: tuple[str, ...] = ()) -> list[dict]:
    """[{name, class, reason}] of the pruned layers of a plain model whose channels stay whole."""
    names = [n for n in prunable_layer_names(model) if n not in exclude]
    return channel_plan(model).unpruned(names, exclude)


def prunable_channels(model: keras.Model, exclude: tuple[str, ...] = ()) -> list[str]:
    """Layers of a plain model whose output channels `prune.structure = channels` prunes."""
    names = [n for n in prunable_layer_names(model) if n not in exclude]
    return channel_plan(model).prunable(names, exclude)


class _Graph:
    """Who reads whom in a functional model: {layer name: [(reader layer, input position)]}."""

    def __init__(self, model: keras.Model):
        self.layers = [_inner(x) for x in model.layers]
        self.by_name = {x.name: x for x in self.layers}
        outer = {id(x): _inner(x) for x in model.layers}
        node_keys = getattr(model, "_network_nodes", None)
        self.readers: dict[str, list[tuple[Any, int]]] = {x.name: [] for x in self.layers}
        self.nodes: dict[str, list] = {x.name: [] for x in self.layers}
        for wrapper in model.layers:
            inner = outer[id(wrapper)]
            for i, node in enumerate(wrapper.inbound_nodes):
                if node_keys is not None and f"{wrapper.name}_ib-{i}" not in node_keys:
                    continue
                self.nodes[inner.name].append(node)
                for pos, t in enumerate(_flat(node.keras_inputs)):
                    src = outer.get(id(t._keras_history.layer))
                    if src is not None:
                        self.readers[src.name].append((inner, pos))
        self.outputs = {outer[id(t._keras_history.layer)].name for t in model.outputs}


class _Walk:
    """Follows one producer's channels downstream."""

    def __init__(self, g: _Graph):
        self.g = g
        self.consumers: list[Consumer] = []
        self.carriers: list[Consumer] = []

    def run(self, producer) -> tuple[tuple[Consumer, ...], tuple[Consumer, ...]] | str:
        if producer.name in self.g.outputs:
            return "model output"
        why = self._follow(producer, 1)
        if why is None and not self.consumers:
            why = "its channels reach no other layer"
        return why or (tuple(self.consumers), tuple(self.carriers))

    def _follow(self, layer, repeat: int) -> str | None:
        if layer.name in self.g.outputs:
            return f"reaches the model output through {layer.name}"
        for reader, pos in self.g.readers[layer.name]:
            why = self._step(reader, pos, repeat)
            if why:
                return why
        return None

    def _step(self, reader, pos: int, repeat: int) -> str | None:
        kind = type(reader).__name__
        if len(self.g.nodes[reader.name]) != 1:
            return f"feeds {reader.name} ({kind}), which is called more than once"
        if isinstance(reader, _TIES):
            return f"tied by {reader.name} ({kind}): a residual addition or concatenation"
        if _has_kernel(reader):
            if _not_a_producer(reader) is None and pos == 0:
                self.consumers.append(Consumer(reader.name, repeat))
                return None
            return f"feeds {reader.name} ({kind}), which does not read whole channels"
        if isinstance(reader, L.Flatten):
            shape = reader.input_shape
            if reader.data_format != "channels_last" or any(d is None for d in shape[1:]):
                return f"feeds {reader.name} (Flatten) without a known channels-last shape"
            return self._follow(reader, repeat * math.prod(shape[1:-1]))
        if _channel_wise(reader):
            if reader.weights:
                self.carriers.append(Consumer(reader.name, repeat))
            return self._follow(reader, repeat)
        return f"feeds {reader.name} ({kind}), which is not known to be channel-wise"


def _inner(layer):
    return layer.layer if isinstance(layer, PruneLowMagnitude) else layer


def _flat(x) -> list:
    from lth_tf.platform.backend import tf

    return tf.nest.flatten(x)


def _has_kernel(layer) -> bool:
    return any(w.name.split(":")[0].rsplit("/", 1)[-1] == "kernel" for w in layer.weights)


def _is_gcn(layer) -> bool:
    return any(c.__name__ == "GCNConv" and c.__module__.startswith("spektral") for c in type(layer).__mro__)


def _width_key(layer) -> str:
    if isinstance(layer, L.Dense):
        return "units"
    return "channels" if _is_gcn(layer) else "filters"


def _width(layer) -> int:
    return int(layer.get_config()[_width_key(layer)])


def _activation_ok(layer) -> bool:
    act = getattr(layer, "activation", None)
    return act is None or getattr(act, "__name__", "") in _ELEMENTWISE


def _not_a_producer(layer) -> str | None:
    """None if `layer` can lose output channels on its own; else why not."""
    convs = (L.Conv1D, L.Conv2D, L.Conv3D)
    transposed = (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)
    if type(layer) is L.Dense or _is_gcn(layer):
        pass
    elif isinstance(layer, convs) and not isinstance(layer, transposed):
        if layer.data_format != "channels_last" or layer.groups != 1:
            return "a channels-first or grouped convolution"
    else:
        return "not a Dense, Conv or GCN layer"
    if not _activation_ok(layer):
        return "its activation mixes channels"
    return None


def _channel_wise(layer) -> bool:
    if not isinstance(layer, _CHANNEL_WISE):
        return False
    if isinstance(layer, L.BatchNormalization):
        axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        rank = len(layer.input_shape)
        return [a % rank for a in axis] == [rank - 1]
    if isinstance(layer, L.Activation):
        return _activation_ok(layer)
    return getattr(layer, "data_format", "channels_last") == "channels_last"
