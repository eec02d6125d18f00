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


def _split(split: str, data: Any) -> Any:
    if isinstance(data, tf.data.Dataset):
        return data
    name = ARGUMENT[split]  # as `fit` calls it
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise LthError(f"{name} data must be (x, y) arrays or a tf.data.Dataset of (x, y) batches")
    try:
        x, y = np.asarray(data[0]), np.asarray(data[1])
    except ValueError as e:  # ragged lists
        raise LthError(f"{name} data is not a pair of rectangular arrays ({e}); give numpy arrays") from None
    if x.ndim == 0 or y.ndim == 0:
        raise LthError(f"{name} data: x and y must be arrays with one row per example, not single values")
    if len(x) != len(y) or len(x) == 0:
        raise LthError(f"{name} data: x has {len(x)} rows and y {len(y)}; give the same non-zero number")
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise LthError(f"{name} labels must be class numbers 0..K-1 of shape (n,); use np.argmax for one-hot")
    try:
        x = x.astype(np.float32, copy=False)
    except (TypeError, ValueError) as e:
        raise LthError(f"{name}: x is not numeric ({x.dtype}: {e}); give float or integer arrays") from None
    _check_finite(name, x)
    return x, y.astype(np.int64, copy=False)


# What each split is called in `TicketSearch.fit(train, validation_data=, test_data=)`.
ARGUMENT = {"train": "train", "val": "validation", "test": "test"}


def _check_finite(name: str, x: np.ndarray) -> None:
    """LthError counting the NaN and inf values of `x` and saying where they are."""
    finite = np.isfinite(x)
    if finite.all():
        return
    nan, inf = int(np.isnan(x).sum()), int(np.isinf(x).sum())
    counts = " and ".join(f"{n} {kind}" for n, kind in ((nan, "NaN"), (inf, "inf")) if n)
    bad = ~finite.reshape(len(x), -1)
    rows = np.flatnonzero(bad.any(axis=1))
    first = tuple(int(i) for i in np.argwhere(~finite)[0])
    where = f"in {len(rows)} of {len(x)} rows, first at row {first[0]}"
    if len(first) > 1:
        where += f" position {first[1:] if len(first) > 2 else first[1]}"
    if x.ndim == 2 and len(cols := np.unique(np.nonzero(~finite)[1])) == 1:
        where += f"; all in column {int(cols[0])}"
    raise LthError(
        f"{name} data: x holds {counts} values ({where}); training on them gives NaN weights: "
        "replace them (np.nan_to_num) or drop those rows before fit"
    )


def check_labels(data: Any, outputs: int, label: str) -> None:
    """LthError when the array labels of `data` do not match a model of `outputs` logits.

    Too few classes in the labels is more often a labelling mistake (a class
    filtered out, labels shifted) than a model one, so the labels are named first.
    """
    if not isinstance(data, UserData):
        return
    splits = {ARGUMENT[s]: getattr(data, s) for s in SPLITS}
    labels = {s: d[1] for s, d in splits.items() if isinstance(d, tuple)}
    if not labels or data.num_classes == outputs:
        return
    classes = data.num_classes
    if classes < outputs:
        missing = f"{classes}" if outputs - classes == 1 else f"{classes}..{outputs - 1}"
        raise LthError(
            f"the labels hold classes 0..{classes - 1} but {label} has {outputs} outputs: class "
            f"{missing} never occurs in {', '.join(labels)}; check the labels (a class filtered out?), "
            f"or, if the model should have {classes} classes, end it with Dense({classes})"
        )
    over = [f"{int((y >= outputs).sum())} {s} labels" for s, y in labels.items() if (y >= outputs).any()]
    raise LthError(
        f"{' and '.join(over)} are {outputs} or more, but {label} has {outputs} outputs "
        f"(classes 0..{outputs - 1}); fix those labels, or end the model with Dense({classes})"
    )
