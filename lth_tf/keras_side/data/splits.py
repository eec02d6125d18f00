"""The names of the data splits, the seeded stratified train/validation split of a
labelled training set, and the per-class split sizes a run records (numpy only).

Stratified means in the data's class proportions: a class holding a third of the
training images holds a third of the validation images (to the nearest image),
so the round and the ticket are chosen on the class mix they are tested on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lth_tf.core.errors import LthError

# The three data splits every data source provides, in this order.
SPLITS = ("train", "val", "test")
# Fewer training examples than this in a class: a warning naming it (run_started.data_warnings).
MIN_TRAIN_PER_CLASS = 10


def proportional_counts(counts: list[int], total: int, keep: int = 1) -> list[int]:
    """`total` split over classes in proportion to `counts`, each class keeping `keep`.

    Largest remainders (Hamilton's method): each class gets the floor of its exact
    share, and the images left over go to the largest fractional parts (ties: the
    larger class, then the lower label). Equal classes get equal shares, the first
    classes one more when `total` does not divide: what a class-balanced split of
    balanced data gives. No class gives more than `count - keep`.
    """
    n = sum(counts)
    if total > n - keep * len(counts):
        raise ValueError(f"{total} of {n} leaves fewer than {keep} per class")
    if total <= 0 or n == 0:
        return [0] * len(counts)
    quotas = [c * total / n for c in counts]
    out = [min(math.floor(q), c - keep) for q, c in zip(quotas, counts)]
    order = sorted(range(len(counts)), key=lambda i: (-(quotas[i] - math.floor(quotas[i])), -counts[i], i))
    rest = total - sum(out)
    while rest > 0:
        for i in order:
            if rest and out[i] < counts[i] - keep:
                out[i] += 1
                rest -= 1
    return out


def stratified_split(labels: np.ndarray, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): `val_size` held out in the classes' proportions, seeded.

    Each class is shuffled (seeded) and its last share (`proportional_counts`)
    goes to validation; every class keeps at least one training example. The
    training order interleaves the classes evenly (position rank / class size,
    random order on ties), so any prefix, which is what `train_subset` keeps, is
    in the same proportions too. For balanced classes the indices are those of
    the earlier class-balanced split.
    """
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    counts = [int((labels == c).sum()) for c in classes]
    try:
        per_class = proportional_counts(counts, val_size)
    except ValueError:
        raise LthError(
            f"data.val_size {val_size} leaves no training example for some class ({sum(counts)} "
            f"examples in {len(counts)} classes); use a data.val_size of at most "
            f"{sum(counts) - len(counts)}"
        ) from None
    train_parts, val_parts = [], []
    for c, n_val in zip(classes, per_class):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cut = len(idx) - n_val
        train_parts.append(idx[:cut])
        val_parts.append(idx[cut:])
    return _interleave(train_parts, rng), _interleave(val_parts, rng)


def _interleave(parts: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    if not parts or sum(len(p) for p in parts) == 0:
        return np.zeros(0, np.int64)
    idx = np.concatenate(parts)
    position = np.concatenate([(np.arange(len(p)) + 0.5) / len(p) for p in parts if len(p)])
    order = np.lexsort((rng.random(len(idx)), position))
    return idx[order].astype(np.int64)


# -- what a run records --------------------------------------------------------------------------
def split_labels(data: Any) -> dict[str, np.ndarray] | None:
    """The labels of each split of `data` (ImageData, GraphData or array UserData); None when
    they are not known without iterating (a tf.data.Dataset split)."""
    if getattr(data, "kind", None) == "graph":
        return {s: np.asarray(data.y)[np.asarray(getattr(data, f"{s}_mask"), bool)] for s in SPLITS}
    if all(hasattr(data, f"y_{s}") for s in SPLITS):
        return {s: np.asarray(getattr(data, f"y_{s}")) for s in SPLITS}
    parts = [getattr(data, s, None) for s in SPLITS]
    if all(isinstance(p, tuple) and len(p) == 2 for p in parts):
        return {s: np.asarray(p[1]).reshape(-1) for s, p in zip(SPLITS, parts)}
    return None


def split_sizes(data: Any) -> dict[str, Any] | None:
    """Examples per class in each split: `{"classes": [name, ...], "unit": "images" | "nodes" |
    "examples", "train": [n, ...], "val": [...], "test": [...]}` (run_started.split_sizes,
    the report); None when the labels are not known (a tf.data.Dataset split)."""
    labels = split_labels(data)
    if labels is None:
        return None
    k = int(getattr(data, "num_classes", None) or 1 + max((int(y.max()) for y in labels.values() if len(y)),
                                                            default=0))
    names = [str(n) for n in (getattr(data, "class_names", ()) or ())]
    if len(names) != k:
        names = [str(i) for i in range(k)]
    unit = {"image": "images", "graph": "nodes"}.get(getattr(data, "kind", None), "examples")
    sizes: dict[str, Any] = {"classes": names, "unit": unit}
    for s in SPLITS:
        sizes[s] = np.bincount(labels[s].astype(np.int64), minlength=k)[:k].tolist()
    return sizes


def small_class_warnings(sizes: dict[str, Any]) -> list[str]:
    """One line per class with fewer than MIN_TRAIN_PER_CLASS training examples."""
    unit = sizes.get("unit", "examples")
    return [
        f"class {name!r} has only {n} training {unit} (fewer than {MIN_TRAIN_PER_CLASS}): its "
        f"accuracy will be noisy and it may hardly be learnt; add {unit} to it"
        for name, n in zip(sizes["classes"], sizes["train"])
        if n < MIN_TRAIN_PER_CLASS
    ]
