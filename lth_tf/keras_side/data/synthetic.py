"""Tiny generated data sets for smoke runs and tests: no files, no network, seeded.

Both are small enough to train in seconds yet need learning, not lookup:

- `synthetic_images`: 16x16 RGB, 4 classes: vertical or horizontal stripes,
  fine or coarse, with a random phase, contrast and tint per image plus pixel
  noise. Colour carries no class information, so a model has to see the
  pattern. Flips and crops keep orientation and period, so the usual
  augmentation stays label-preserving (45-degree stripes would not be).
- `synthetic_graph`: a planted-partition graph (4 blocks of 100 nodes) whose
  sparse binary features lean towards a class-specific set of words, with a
  Planetoid-like split of 10 labelled nodes per class.

The class definitions are fixed; the seed draws the samples, so the same seed
gives identical arrays and a different seed different ones.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from lth_tf.keras_side.data.assemble import make_image_data
from lth_tf.keras_side.data.graph import GraphData, gcn_normalise, row_normalise
from lth_tf.keras_side.data.images import ImageData

# -- images ---------------------------------------------------------------------------------

IMAGE_SIZE = 16
IMAGE_CLASSES = 4
IMAGES_PER_CLASS = 160  # train + val pool; 640 images
TEST_PER_CLASS = 64  # 256 images
MAX_VAL_FRACTION = 0.25  # the image configs default to val_size 5000: clamp to a quarter


def load_images(cfg, data_dir=None, seed: int = 0) -> ImageData:
    rng = np.random.default_rng([seed, 1])  # stream 1: images (stream 2: graph)
    x_train, y_train = _images(rng, IMAGES_PER_CLASS)
    x_test, y_test = _images(rng, TEST_PER_CLASS)
    val_size = min(cfg.val_size, int(len(x_train) * MAX_VAL_FRACTION))
    cfg = dataclasses.replace(cfg, val_size=val_size)
    return make_image_data(
        x_train, y_train, x_test, y_test, cfg, seed, IMAGE_CLASSES, "synthetic_images"
    )


def _images(rng: np.random.Generator, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    n = per_class * IMAGE_CLASSES
    y = np.repeat(np.arange(IMAGE_CLASSES), per_class)
    rng.shuffle(y)
    horizontal = y % 2
    coarse = y // 2
    period = np.where(coarse, rng.uniform(5.0, 7.0, n), rng.uniform(3.0, 4.5, n))
    freq = 2 * np.pi / period
    phase = rng.uniform(0, 2 * np.pi, n)
    contrast = rng.uniform(0.1, 0.3, n)
    r, c = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
    proj = np.where(horizontal[:, None, None] == 1, r[None], c[None])
    stripes = np.sin(freq[:, None, None] * proj + phase[:, None, None])  # (n, H, W)
    tint = rng.uniform(0.3, 0.7, (n, 1, 1, 3))  # colour carries no class information
    img = tint + contrast[:, None, None, None] * stripes[..., None]
    img = img + rng.normal(0.0, 0.3, img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8), y.astype(np.int64)


# -- graph ----------------------------------------------------------------------------------

GRAPH_CLASSES = 4
NODES_PER_CLASS = 100
FEATURES = 64
P_IN, P_OUT = 0.05, 0.005  # mean degree ~6.5, three quarters of the edges inside a block
WORD_P_CLASS, WORD_P_OTHER = 0.12, 0.04  # per-word rates: own 16 words vs the rest
TRAIN_PER_CLASS, VAL_NODES, TEST_NODES = 10, 80, 160


def load_graph(cfg=None, data_dir=None, seed: int = 0) -> GraphData:
    rng = np.random.default_rng([seed, 2])
    n = GRAPH_CLASSES * NODES_PER_CLASS
    y = rng.permutation(np.repeat(np.arange(GRAPH_CLASSES), NODES_PER_CLASS)).astype(np.int64)

    same = y[:, None] == y[None, :]
    upper = np.triu(rng.random((n, n)) < np.where(same, P_IN, P_OUT), k=1)
    adj = sp.csr_matrix((upper | upper.T).astype(np.float32))

    words_per_class = FEATURES // GRAPH_CLASSES
    own = (np.arange(FEATURES)[None, :] // words_per_class) == y[:, None]
    x = (rng.random((n, FEATURES)) < np.where(own, WORD_P_CLASS, WORD_P_OTHER)).astype(np.float32)

    train = np.concatenate(
        [rng.permutation(np.flatnonzero(y == c))[:TRAIN_PER_CLASS] for c in range(GRAPH_CLASSES)]
    )
    rest = rng.permutation(np.setdiff1d(np.arange(n), train))
    val, test = rest[:VAL_NODES], rest[VAL_NODES : VAL_NODES + TEST_NODES]
    return GraphData(
        features_row_normalised=True,
        x=row_normalise(x),
        a=gcn_normalise(adj),
        y=y,
        train_mask=_mask(train, n),
        val_mask=_mask(val, n),
        test_mask=_mask(test, n),
        num_classes=GRAPH_CLASSES,
        name="synthetic_graph",
    )


def _mask(idx: np.ndarray, n: int) -> np.ndarray:
    m = np.zeros(n, bool)
    m[idx] = True
    return m
