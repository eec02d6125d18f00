"""Pruning layers beyond Conv2D/Dense: what tfmot prunes, mask keys, masks, strip, export.

The expected weights per layer class are the table in lth_tf/keras_side/pruning/prunable.py;
a tfmot upgrade that prunes more or less of a layer fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

from lth_tf import export
from lth_tf.core import masks as M
from lth_tf.keras_side import pruning as P
from lth_tf.keras_side.pruning import prunable
from lth_tf.platform.backend import keras
from lth_tf.storage.store import load_arrays, save_arrays

L = keras.layers

# layer -> (input shape, dtype, names of the weights tfmot prunes, in order)
PRUNED = {
    "dense": (L.Dense(3), (4,), "float32", ["kernel"]),
    "conv1d": (L.Conv1D(2, 3), (6, 2), "float32", ["kernel"]),
    "conv3d": (L.Conv3D(2, 2), (3, 3, 3, 1), "float32", ["kernel"]),
    "conv2d_t": (L.Conv2DTranspose(2, 3), (4, 4, 1), "float32", ["kernel"]),
    "sep1d": (L.SeparableConv1D(3, 3), (6, 2), "float32", ["pointwise_kernel"]),
    "sep2d": (L.SeparableConv2D(3, 3), (5, 5, 2), "float32", ["pointwise_kernel"]),
    "embed": (L.Embedding(10, 4), (5,), "int32", ["embeddings"]),
    "lstm": (L.LSTM(3), (4, 2), "float32", ["kernel", "recurrent_kernel"]),
    "gru": (L.GRU(3), (4, 2), "float32", ["kernel", "recurrent_kernel"]),
    "depthwise": (L.DepthwiseConv2D(3), (5, 5, 2), "float32", []),
    "bn": (L.BatchNormalization(), (4,), "float32", []),
    "mha": (None, (4, 3), "float32", []),  # built below: it takes two inputs
}


def single_layer_model(key: str) -> keras.Model:
    layer, shape, dtype, _ = PRUNED[key]
    inp = keras.Input(shape, dtype=dtype)
    if key == "mha":
        out = L.MultiHeadAttention(2, 3, name=key)(inp, inp)
    else:
        layer._name = key
        out = layer(inp)
    return keras.Model(inp, out)


def inner_weight(layer: keras.layers.Layer, name: str):
    (weight,) = [w for w in layer.weights if w.name.split(":")[0].endswith("/" + name)]
    return weight


@pytest.mark.parametrize("key", PRUNED)
def test_each_layer_prunes_what_tfmot_prunes(key):
    model = single_layer_model(key)
    layer = model.get_layer(key)
    expected = PRUNED[key][3]
    assert prunable.is_prunable(layer) == bool(expected)
    wrapped = P.wrap(model)
    if not expected:
        assert P.wrappers(wrapped) == []
        assert P.unpruned_layers(model) == [(key, type(layer).__name__)]
        return
    masks = P.get_masks(wrapped)
    keys = [key] + [f"{key}/{n}" for n in expected[1:]]
    assert list(masks) == keys
    for k, name in zip(keys, expected, strict=True):
        assert masks[k].shape == tuple(inner_weight(layer, name).shape)
    assert P.unpruned_layers(model) == []


def mixed_model() -> keras.Model:
    """Image branch (separable, depthwise, BN, 1-D conv) and a token branch (embedding, LSTM)."""
    img = keras.Input((8, 8, 3), name="img")
    x = L.SeparableConv2D(4, 3, name="sep", activation="relu")(img)
    x = L.DepthwiseConv2D(3, name="dw")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.Reshape((16, 4), name="to_seq")(x)
    x = L.Conv1D(3, 3, name="conv1d", activation="relu")(x)
    x = L.GlobalAveragePooling1D(name="pool")(x)
    tok = keras.Input((5,), dtype="int32", name="tok")
    t = L.Embedding(12, 4, name="embed")(tok)
    t = L.LSTM(3, name="lstm")(t)
    h = L.Concatenate(name="cat")([x, t])
    return keras.Model([img, tok], L.Dense(4, name="output")(h), name="mixed")


def mixed_data(n: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = [rng.normal(size=(n, 8, 8, 3)).astype(np.float32), rng.integers(0, 12, (n, 5))]
    return x, rng.integers(0, 4, n)


def test_mixed_model_masks_round_trip_prune_train_strip_and_export(tmp_path):
    model = mixed_model()
    wrapped = P.wrap(model)
    masks = P.get_masks(wrapped)
    assert sorted(masks) == ["conv1d", "embed", "lstm", "lstm/recurrent_kernel", "output", "sep"]
    assert dict(P.unpruned_layers(model)) == {"dw": "DepthwiseConv2D", "bn": "BatchNormalization"}
    x, y = mixed_data()
    np.testing.assert_allclose(wrapped(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-6)

    # One IMP step with the project's own mask math.
    kernels = P.get_kernels(wrapped)
    new = M.prune(kernels, M.ones_like(kernels), 0.5, "layerwise")
    P.set_masks(wrapped, new)
    got = P.get_masks(wrapped)
    assert all(np.array_equal(got[k], new[k]) for k in new)
    after = P.get_kernels(wrapped)
    for k in new:
        assert np.all(after[k][new[k] == 0] == 0.0)
        np.testing.assert_array_equal(after[k][new[k] == 1], kernels[k][new[k] == 1])
        assert (new[k] == 0).sum() == M.prune_count(0.5, new[k].size)

    wrapped.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    wrapped.fit(x, y, batch_size=4, epochs=1, callbacks=P.callbacks(), verbose=0)
    trained = P.get_kernels(wrapped)
    assert any(not np.array_equal(trained[k], after[k]) for k in new)  # it did train
    assert all(np.all(trained[k][new[k] == 0] == 0.0) for k in new)

    plain = P.strip(wrapped)
    assert not P.wrappers(plain) and plain.get_layer("lstm").__class__ is L.LSTM
    assert np.all(plain.get_layer("lstm").cell.recurrent_kernel.numpy()[new["lstm/recurrent_kernel"] == 0] == 0.0)
    assert np.all(plain.get_layer("sep").pointwise_kernel.numpy()[new["sep"] == 0] == 0.0)
    np.testing.assert_allclose(plain(x).numpy(), wrapped(x).numpy(), rtol=1e-6, atol=1e-6)

    path = export.export_savedmodel(plain, tmp_path / "ticket")
    loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(loaded(x).numpy(), plain(x).numpy(), rtol=1e-5, atol=1e-6)


def test_layer_slash_weight_keys_survive_the_store(tmp_path):
    masks = {"lstm": np.ones((2, 12), np.float32), "lstm/recurrent_kernel": np.zeros((3, 12), np.float32)}
    save_arrays(tmp_path / "m.npz", masks)
    back = load_arrays(tmp_path / "m.npz", remedy="delete it")
    assert sorted(back) == sorted(masks)
    assert all(np.array_equal(back[k], masks[k]) for k in masks)


def test_excluded_and_wrapped_models_list_their_unpruned_layers():
    model = mixed_model()
    wrapped = P.wrap(model, exclude=("conv1d",))
    assert "conv1d" not in P.get_masks(wrapped)
    listed = dict(P.unpruned_layers(wrapped))
    assert listed == {"dw": "DepthwiseConv2D", "bn": "BatchNormalization", "conv1d": "Conv1D"}
    assert dict(P.unpruned_layers(model, exclude=("conv1d",))) == listed


def test_mask_keys_stay_unique_for_weights_with_equal_names():
    class Var:
        def __init__(self, name):
            self.name = name

    keys = prunable.mask_keys("cell", [Var("a/kernel:0"), Var("b/kernel:0"), Var("c/kernel:0")])
    assert keys == ["cell", "cell/kernel", "cell/kernel_2"]
