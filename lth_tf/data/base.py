"""The two shapes a data set takes: in-memory images, or one graph.

Loaders return these containers; training code only talks to them. Images are
held as uint8 arrays (a quarter of the memory of float32, and what the cache
stores) and converted to normalised float32 inside the tf.data pipeline.

Why the pipeline looks the way it does: on a 2-core CPU a per-image
`from_tensor_slices(...).shuffle().map(augment)` spends its time in tf.data's
per-element overhead. Here only integer indices are shuffled; each batch of
indices is gathered from one in-memory tensor and augmented as a whole batch
(vectorised crop via gather, flip via where), with stateless random ops seeded
per batch so a given seed gives the same epochs on any number of threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from lth_tf._keras import tf
from lth_tf.errors import LthError

SPLITS = ("train", "val", "test")
PAD = 4  # pixels of zero padding before the random crop (the standard CIFAR recipe)


@dataclass(eq=False)
class ImageData:
    """uint8 NHWC images with int64 labels, split into train/val/test.

    `mean`/`std` are per-channel statistics in the 0..255 scale used to
    normalise every split; loaders set them (CIFAR constants, or computed from
    the training images).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    mean: np.ndarray
    std: np.ndarray
    augment: bool = True
    name: str = ""
    class_names: tuple[str, ...] = ()  # label i is class_names[i]; empty when unnamed
    kind: ClassVar[str] = "image"
    # Tensors built once per split: copying 138 MB into TF on every call to
    # train_dataset (once per round) would be wasted time.
    _tensors: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        if split not in SPLITS:
            raise LthError(f"unknown split '{split}'; use one of {', '.join(SPLITS)}")
        return getattr(self, f"x_{split}"), getattr(self, f"y_{split}")

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(len(self.x_train) / batch_size)

    def train_dataset(self, batch_size: int, seed: int = 0) -> tf.data.Dataset:
        """Shuffled (new order each epoch), augmented if `augment`, normalised batches.

        The last batch may be smaller, so one pass has `steps_per_epoch` batches.
        """
        x, y = self._tensor("train")
        n = len(self.x_train)
        indices = (
            tf.data.Dataset.range(n)
            .shuffle(n, seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size)
        )
        # Two int64 seeds per batch for the stateless ops, different every epoch.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        augment = self.augment
        normalise = self._normaliser()

        def make_batch(idx, pair):
            images = tf.gather(x, idx)
            if augment:
                images = augment_batch(images, pair)
            return normalise(images), tf.gather(y, idx)

        ds = tf.data.Dataset.zip((indices, seeds))
        return ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def eval_dataset(self, split: str, batch_size: int) -> tf.data.Dataset:
        """Batches of one split in stored order, normalised, never augmented."""
        self.split(split)  # validates the name
        x, y = self._tensor(split)
        normalise = self._normaliser()
        n = int(x.shape[0])
        return (
            tf.data.Dataset.range(n)
            .batch(batch_size)
            .map(
                lambda idx: (normalise(tf.gather(x, idx)), tf.gather(y, idx)),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            .prefetch(tf.data.AUTOTUNE)
        )

    # -- helpers ----------------------------------------------------------------
    def _tensor(self, split: str):
        if split not in self._tensors:
            xs, ys = self.split(split)
            self._tensors[split] = (tf.constant(xs), tf.constant(ys.astype(np.int64)))
        return self._tensors[split]

    def _normaliser(self):
        mean = tf.constant(np.asarray(self.mean, np.float32))
        inv_std = tf.constant(1.0 / np.asarray(self.std, np.float32))

        def normalise(images):
            return (tf.cast(images, tf.float32) - mean) * inv_std

        return normalise


def augment_batch(images, seed_pair):
    """Pad-4 random crop and random horizontal flip, one draw per image.

    `images` is a (B, H, W, C) batch; `seed_pair` two int64 values for the
    stateless random ops. The crop is two batched gathers (rows, then columns)
    from the zero-padded batch, which is much cheaper than B separate crops.
    """
    seed = tf.cast(seed_pair, tf.int32)  # stateless ops take a shape-[2] int32/int64 seed
    b = tf.shape(images)[0]
    h, w = images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [PAD, PAD], [PAD, PAD], [0, 0]])
    offsets = tf.random.stateless_uniform((b, 2), seed, 0, 2 * PAD + 1, dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(h)[None, :]  # (B, H)
    cols = offsets[:, 1:] + tf.range(w)[None, :]  # (B, W)
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)  # (B, H, W+2P, C)
    cropped = tf.gather(cropped, cols, axis=2, batch_dims=1)  # (B, H, W, C)
    flip = tf.random.stateless_uniform((b, 1, 1, 1), seed + 1, 0.0, 1.0) < 0.5
    return tf.where(flip, tf.reverse(cropped, axis=[2]), cropped)


@dataclass(eq=False)
class GraphData:
    """One graph for transductive node classification (Planetoid style)."""

    x: np.ndarray  # float32 (N, F) node features
    a: sp.csr_matrix  # GCN-normalised adjacency D^-1/2 (A+I) D^-1/2, float32
    y: np.ndarray  # int64 (N,) labels
    train_mask: np.ndarray  # bool (N,)
    val_mask: np.ndarray
    test_mask: np.ndarray
    num_classes: int
    name: str = ""
    # True when `x` went through row_normalise: an export then row-normalises raw features.
    features_row_normalised: bool = False
    kind: ClassVar[str] = "graph"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (int(self.x.shape[1]),)

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    def inputs(self) -> tuple[Any, Any]:
        """(features, adjacency), both tf.SparseTensor, as the GCN model takes them.

        Features are sparse as in Kipf & Welling: Cora's are 1.3% nonzero, and
        dropout plus matmul on the sparse form is ~20x faster than on the dense one.
        """
        return to_sparse_tensor(sp.csr_matrix(self.x)), to_sparse_tensor(self.a)


def to_sparse_tensor(m: sp.spmatrix) -> Any:
    """A scipy matrix as a canonically ordered float32 tf.SparseTensor."""
    coo = sp.coo_matrix(m)
    indices = np.stack([coo.row, coo.col], axis=1).astype(np.int64)
    return tf.sparse.reorder(tf.SparseTensor(indices, coo.data.astype(np.float32), coo.shape))


def gcn_normalise(adj: sp.spmatrix) -> sp.csr_matrix:
    """D^-1/2 (A+I) D^-1/2 with D the degrees of A+I (Kipf & Welling; Spektral's gcn_filter).

    Any self-loops already in `adj` are replaced by exactly one, as Spektral's
    Citation does before the filter, so the result does not depend on the input's diagonal.
    """
    a = sp.csr_matrix(adj, dtype=np.float64)
    a.setdiag(0)
    a.eliminate_zeros()
    a = a + sp.eye(a.shape[0], format="csr")
    deg = np.asarray(a.sum(axis=1)).ravel()
    d = sp.diags(1.0 / np.sqrt(deg))
    out = (d @ a @ d).tocsr().astype(np.float32)
    out.sort_indices()
    return out


def row_normalise(x: np.ndarray) -> np.ndarray:
    """Divide each row by its sum (rows summing to 0 stay 0), as Kipf's GCN code does."""
    x = np.asarray(x, np.float32)
    s = x.sum(axis=1, keepdims=True)
    return np.divide(x, s, out=np.zeros_like(x), where=s != 0)


def stratified_split(labels: np.ndarray, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): `val_size` held out with classes as equal as possible.

    Each class is shuffled (seeded) and its last share goes to validation. The
    training order interleaves the classes (class ranks, random order within a
    rank), so any prefix, which is what `train_subset` keeps, is balanced too.
    """
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    k = len(classes)
    per_class = [val_size // k + (1 if i < val_size % k else 0) for i in range(k)]
    train_parts, val_parts = [], []
    for c, n_val in zip(classes, per_class):
        idx = rng.permutation(np.flatnonzero(labels == c))
        if n_val > len(idx):
            raise LthError(
                f"data.val_size {val_size} asks for {n_val} images of class {c} but it has "
                f"{len(idx)}; use a smaller data.val_size"
            )
        cut = len(idx) - n_val
        train_parts.append(idx[:cut])
        val_parts.append(idx[cut:])
    return _interleave(train_parts, rng), _interleave(val_parts, rng)


def _interleave(parts: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    if not parts or sum(len(p) for p in parts) == 0:
        return np.zeros(0, np.int64)
    idx = np.concatenate(parts)
    rank = np.concatenate([np.arange(len(p)) for p in parts])
    order = np.lexsort((rng.random(len(idx)), rank))
    return idx[order].astype(np.int64)


def make_image_data(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    cfg: Any,
    seed: int,
    num_classes: int,
    name: str,
    mean: np.ndarray | None = None,
    std: np.ndarray | None = None,
    class_names: tuple[str, ...] = (),
) -> ImageData:
    """Split a training set into train/val, apply train_subset, attach statistics."""
    tr, va = stratified_split(y_train, cfg.val_size, seed)
    if cfg.train_subset:
        tr = tr[: cfg.train_subset]
    # np.asarray: from a memory-mapped cache, fancy indexing gives an in-memory
    # copy that still claims to be a memmap; make it a plain array.
    xt, yt = np.asarray(x_train[tr]), y_train[tr].astype(np.int64)
    if mean is None or std is None:
        mean, std = channel_stats(xt)
    return ImageData(
        x_train=xt,
        y_train=yt,
        x_val=np.asarray(x_train[va]),
        y_val=y_train[va].astype(np.int64),
        x_test=x_test,
        y_test=y_test.astype(np.int64),
        num_classes=num_classes,
        mean=np.asarray(mean, np.float32),
        std=np.asarray(std, np.float32),
        augment=cfg.augment,
        name=name,
        class_names=tuple(class_names),
    )


STATS_IMAGES = 2048  # means/stds within ~1 of 255; all of CIFAR would cost ~1 s per load


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 NHWC images, in the 0..255 scale.

    Estimated from at most STATS_IMAGES evenly strided images via per-channel
    histograms (exact integer counts, no float copy of the images), so the
    result is deterministic and costs a few tens of milliseconds.
    """
    c = x.shape[-1]
    if len(x) == 0:
        return np.zeros(c, np.float32), np.ones(c, np.float32)
    sample = x[:: max(1, len(x) // STATS_IMAGES)]
    values = np.arange(256, dtype=np.float64)
    mean, std = np.zeros(c), np.zeros(c)
    for ch in range(c):
        hist = np.bincount(np.ascontiguousarray(sample[..., ch]).ravel(), minlength=256)
        p = hist / hist.sum()
        mean[ch] = p @ values
        std[ch] = np.sqrt(p @ (values - mean[ch]) ** 2)
    return mean.astype(np.float32), np.maximum(std, 1e-3).astype(np.float32)
