"""A researcher's own train/val/test data, in the shape the round engine reads.

`as_data(train, val, test)` accepts what Keras' `fit` accepts for each split:

- a pair of numpy arrays `(x, y)`, integer class labels `y` (shape (n,) or (n, 1));
  training batches are shuffled from the round's seed, so a resumed run sees
  the same batches as an uninterrupted one;
- a `tf.data.Dataset` of `(x, y)` batches, used as given (its batching and
  shuffling are the user's; shuffle with a fixed seed to keep resumes exact);
- or, for all three at once, an `ImageData` / `GraphData` from `lth_tf.keras_side.data`
  (e.g. the GCN's full-batch graph feed), passed through unchanged.

Arrays are fed as float32 exactly as given: normalise them first, as for `fit`.

Without `val` (training arrays only), VAL_FRACTION of the training examples are
held out for validation, stratified (in the classes' proportions) and drawn
with VAL_SPLIT_SEED (`splits.stratified_split`): the round and the ticket are
then chosen on the class mix they are trained on.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lth_tf.core.errors import LthError
from lth_tf.keras_side.data.images import without_autotune_thread
from lth_tf.keras_side.data.splits import SPLITS, stratified_split
from lth_tf.platform.backend import tf

VAL_FRACTION = 0.1  # held out of training arrays given without validation data
VAL_SPLIT_SEED = 0  # fixed: the same arrays give the same split (and the same run directory)


@dataclass(eq=False)
class UserData:
    """Three splits, each numpy `(x, y)` or a batched `tf.data.Dataset`."""

    train: Any
    val: Any
    test: Any
    num_classes: int | None = None  # from the array labels; for datasets the caller sets it
    kind: str = "arrays"  # not "graph": training.feeds.Feeds uses the dataset methods below

    @property
    def input_shape(self) -> tuple[int, ...]:
        x = self.train
        if isinstance(x, tf.data.Dataset):
            return tuple(x.element_spec[0].shape[1:])
        return tuple(int(d) for d in x[0].shape[1:])

    def steps_per_epoch(self, batch_size: int) -> int:
        if isinstance(self.train, tf.data.Dataset):
            n = int(self.train.cardinality())
            if n < 0:  # unknown or infinite: count one pass (finite data only)
                n = sum(1 for _ in self.train)
            return max(1, n)
        return math.ceil(len(self.train[0]) / batch_size)

    def train_dataset(self, batch_size: int, seed: int = 0) -> tf.data.Dataset:
        if isinstance(self.train, tf.data.Dataset):
            return self.train
        x, y = self.train
        n = len(x)
        return without_autotune_thread(
            tf.data.Dataset.from_tensor_slices((x, y))
            .shuffle(n, seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size)
        )

    def eval_dataset(self, split: str, batch_size: int) -> tf.data.Dataset:
        data = getattr(self, split)
        if isinstance(data, tf.data.Dataset):
            return data
        return without_autotune_thread(tf.data.Dataset.from_tensor_slices(data).batch(batch_size))

    def digest(self) -> str:
        """A digest of the array splits' bytes and the datasets' element specs."""
        h = hashlib.sha256()
        for split in SPLITS:
            data = getattr(self, split)
            if isinstance(data, tf.data.Dataset):
                h.update(f"{split}:{data.element_spec}:{int(data.cardinality())}".encode())
            else:
                for a in data:
                    h.update(f"{split}:{a.dtype}:{a.shape}".encode())
                    h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


def as_data(train: Any, val: Any = None, test: Any = None) -> Any:
    """The engine's data object for the three splits (see the module docstring)."""
    if getattr(train, "kind", None) in ("image", "graph") and val is None and test is None:
        return train  # lth_tf's own ImageData / GraphData
    if val is None and test is not None and not isinstance(train, tf.data.Dataset):
        train, val = hold_out_validation(_split("train", train))
    if val is None or test is None:
        raise LthError(
            "give three splits: fit(train, validation_data=(x_val, y_val), test_data=(x_test, y_test))"
        )
    parts = [_split(name, s) for name, s in zip(SPLITS, (train, val, test), strict=True)]
    labels = [p[1] for p in parts if isinstance(p, tuple)]
    classes = 1 + max(int(np.max(y)) for y in labels) if labels else None
    return UserData(*parts, num_classes=classes)


def hold_out_validation(train: tuple[np.ndarray, np.ndarray]) -> tuple[tuple, tuple]:
    """(train, val) arrays: VAL_FRACTION of `train` held out, stratified, with VAL_SPLIT_SEED."""
    x, y = train
    n_val = min(max(len(np.unique(y)), int(len(y) * VAL_FRACTION)), len(y) - len(np.unique(y)))
    tr, va = stratified_split(y, n_val, VAL_SPLIT_SEED)
    return (x[np.sort(tr)], y[np.sort(tr)]), (x[np.sort(va)], y[np.sort(va)])


def _split(name: str, data: Any) -> Any:
    if isinstance(data, tf.data.Dataset):
        return data
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise LthError(f"{name} data must be (x, y) arrays or a tf.data.Dataset of (x, y) batches")
    x, y = np.asarray(data[0]), np.asarray(data[1])
    if len(x) != len(y) or len(x) == 0:
        raise LthError(f"{name} data: x has {len(x)} rows and y {len(y)}; give the same non-zero number")
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise LthError(f"{name} labels must be class numbers 0..K-1 of shape (n,); use np.argmax for one-hot")
    return x.astype(np.float32, copy=False), y.astype(np.int64, copy=False)
