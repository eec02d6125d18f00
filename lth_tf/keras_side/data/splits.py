"""The names of the data splits, and the seeded, class-balanced train/validation split
of a labelled training set (numpy only)."""

from __future__ import annotations

import numpy as np

from lth_tf.core.errors import LthError

# The three data splits every data source provides, in this order.
SPLITS = ("train", "val", "test")


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
