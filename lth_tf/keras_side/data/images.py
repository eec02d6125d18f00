"""In-memory images (`ImageData`) and their tf.data pipelines.

Loaders return `ImageData` or `GraphData` (lth_tf/keras_side/data/graph.py); training code
only talks to these containers.

Images are held as uint8 arrays (a quarter of the memory of float32, and what
the cache stores) and converted to normalised float32 inside the tf.data pipeline.

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

from lth_tf.core.errors import LthError
from lth_tf.keras_side.data.splits import SPLITS
from lth_tf.platform.backend import tf

PAD = 4  # pixels of zero padding before the random crop (the standard CIFAR recipe)


def without_autotune_thread(ds: tf.data.Dataset) -> tf.data.Dataset:
    """`ds` with tf.data's autotuning (and its background thread) turned off.

    Keras' `fit` makes a new iterator over the training data every epoch and deletes
    the old one. Deleting an iterator joins its autotune thread, and with TF 2.21 that
    thread first sleeps out its optimisation period, which doubles up to 60 s while an
    epoch runs: the main thread waited 22-45 s between ResNet-18 epochs and after the
    last one (measured on cifar10-resnet18-cpu: gdb and py-spy show it in
    `RootDataset::Iterator::~Iterator` waiting for `Model::OptimizeLoop`), time no
    epoch counted. Without autotuning, `AUTOTUNE` map parallelism is the number of
    cores and prefetch sizes its buffer itself; the elements and their order are the
    same (map is deterministic), so training is unchanged.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


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
        return without_autotune_thread(
            ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
        )

    def eval_dataset(self, split: str, batch_size: int) -> tf.data.Dataset:
        """Batches of one split in stored order, normalised, never augmented."""
        self.split(split)  # validates the name
        x, y = self._tensor(split)
        normalise = self._normaliser()
        n = int(x.shape[0])
        return without_autotune_thread(
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
