"""A loader's raw train/test arrays made into `ImageData`.

The validation split, `data.train_subset` and the per-channel statistics that
normalise every split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lth_tf.keras_side.data.images import ImageData
from lth_tf.keras_side.data.splits import stratified_split


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
