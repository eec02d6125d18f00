"""Model helpers: small registry models with random data, and small models of a user's own.

Each registered model gets a small configuration and random data of the right
shape (for the GCN a random graph with a GCN-normalised sparse adjacency and
per-node sample weights), so a training step takes well under a second. For the
Python API: a functional MLP and Gaussian blobs to train it on; for channel
pruning and sizes: a tiny Conv-BN-ReLU-Conv-Dense network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lth_tf.core.config import Model
from lth_tf.keras_side import models
from lth_tf.platform.backend import keras, tf

NUM_CLASSES = 5
BATCH = 8

# name -> (small model settings, input shape)
SMALL = {
    "resnet18": (Model(name="resnet18", width=4), (8, 8, 3)),
    "gcn": (Model(name="gcn", hidden=8), (12,)),
    "lenet300": (Model(name="lenet300"), (6, 6, 1)),
    "conv4": (Model(name="conv4", width=4), (8, 8, 3)),
    "tiny_cnn": (Model(name="tiny_cnn", width=4), (8, 8, 3)),
}
NAMES = tuple(SMALL)


def build_small(name: str, seed: int = 0) -> keras.Model:
    cfg, shape = SMALL[name]
    return models.build(cfg, shape, NUM_CLASSES, seed)


def _sparse(m: np.ndarray) -> tf.SparseTensor:
    rows, cols = np.nonzero(m)
    indices = np.stack([rows, cols], 1).astype(np.int64)
    return tf.sparse.reorder(tf.SparseTensor(indices, m[rows, cols].astype(np.float32), m.shape))


def random_graph(nodes: int = 30, features: int = 12, seed: int = 0):
    """Sparse 0/1 features (N, F) and GCN-normalised adjacency (N, N), both
    tf.SparseTensor as GraphData.inputs() gives them; labels; train-node weights."""
    rng = np.random.default_rng(seed)
    x = (rng.random((nodes, features)) < 0.3).astype(np.float32)
    x[np.arange(nodes), rng.integers(0, features, nodes)] = 1.0  # no empty rows
    adj = np.triu(rng.random((nodes, nodes)) < 0.15, 1)
    adj = (adj | adj.T).astype(np.float32) + np.eye(nodes, dtype=np.float32)
    d = 1.0 / np.sqrt(adj.sum(1))
    norm = adj * d[:, None] * d[None, :]
    y = rng.integers(0, NUM_CLASSES, nodes)
    train_mask = np.zeros(nodes, dtype=np.float32)
    train_mask[: nodes // 2] = 1.0
    return _sparse(x), _sparse(norm), y, train_mask


def inputs(name: str, seed: int = 0):
    """Model inputs for a direct call / predict comparison."""
    if name == "gcn":
        x, a, _, _ = random_graph(features=SMALL[name][1][0], seed=seed)
        return [x, a]
    rng = np.random.default_rng(seed)
    return rng.normal(size=(BATCH, *SMALL[name][1])).astype(np.float32)


def dataset(name: str, seed: int = 0) -> tf.data.Dataset:
    """An endless dataset of (inputs, labels, sample weights); a graph is one batch."""
    if name == "gcn":
        x, a, y, w = random_graph(features=SMALL[name][1][0], seed=seed)
        return tf.data.Dataset.from_tensors(((x, a), y, w)).repeat()
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4 * BATCH, *SMALL[name][1])).astype(np.float32)
    y = rng.integers(0, NUM_CLASSES, len(x))
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).repeat()


def compile_and_fit(model: keras.Model, name: str, steps: int = 1, callbacks=(), lr: float = 0.05):
    """Compile with SGD+momentum (so pruned entries would drift) and fit `steps` steps."""
    model.compile(
        optimizer=keras.optimizers.SGD(lr, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=["accuracy"],
    )
    return model.fit(
        dataset(name), steps_per_epoch=steps, epochs=1, callbacks=list(callbacks), verbose=0
    )


def predict(model: keras.Model, name: str) -> np.ndarray:
    return model(inputs(name), training=False).numpy()


def save_and_reload(model: keras.Model, tmp_path: Path, custom_objects=None) -> keras.Model:
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    return keras.models.load_model(path, custom_objects=custom_objects)


def weights_equal(a: keras.Model, b: keras.Model) -> bool:
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb, strict=True))


# -- a user's own model and data (Python API) --------------------------------------------------
def blobs(n: int, seed: int, dims: int = 12, classes: int = 4):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(classes, dims))
    y = rng.integers(0, classes, n)
    return (centres[y] + rng.normal(scale=0.8, size=(n, dims))).astype("float32"), y


def splits(dims: int = 12):
    return blobs(192, 1, dims), blobs(64, 2, dims), blobs(64, 3, dims)


def functional_mlp(seed: int = 0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((12,), name="x")  # named: an automatic name depends on what was built before
    h = keras.layers.Dense(16, activation="relu", name="h1")(x)
    return keras.Model(x, keras.layers.Dense(4, name="logits")(h), name="user_mlp")


# -- a tiny convolutional network (channels, sizes) --------------------------------------------
def tiny_conv(keras):
    """Conv-BN-ReLU-Conv-Dense: conv1 (4) -> bn -> relu -> conv2 (5) -> pool -> flatten -> dense (6) -> output (3)."""
    L = keras.layers
    x_in = keras.Input((6, 6, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", name="conv1")(x_in)
    x = L.ReLU(name="relu1")(L.BatchNormalization(name="bn1")(x))
    x = L.Conv2D(5, 3, padding="same", activation="relu", name="conv2")(x)
    x = L.Flatten(name="flatten")(L.MaxPooling2D(2, name="pool")(x))
    x = L.Dense(6, activation="relu", name="dense")(x)
    return keras.Model(x_in, L.Dense(3, name="output")(x), name="tiny_conv")
