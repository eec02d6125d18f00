"""A data set's train/val/test inputs in the form `fit` takes, for both data families.

Images feed `fit` through tf.data. The GCN trains full batch on the single
graph: one step per epoch, node masks as sample weights scaled by N / mask.sum()
(Spektral's mask_to_weights) so the weighted mean is the mean over the masked
nodes and the L2 term keeps Kipf's relative scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lth_tf.platform.backend import tf


def node_weights(mask: np.ndarray) -> np.ndarray:
    """Sample weights over all nodes whose weighted mean is the mean over `mask`."""
    mask = mask.astype(np.float32)
    return mask * (mask.size / max(1.0, float(mask.sum())))


class Feeds:
    """The train/val/test inputs of one data set, in the form `fit` takes."""

    def __init__(self, data: Any, batch_size: int, seed: int):
        self.data = data
        self.is_graph = data.kind == "graph"
        if self.is_graph:
            # Full batch: each split is one ((x, a), y, weights) tuple of tensors.
            x, a = data.inputs()
            y = tf.constant(data.y)

            def split(mask: np.ndarray):
                return ((x, a), y, tf.constant(node_weights(mask)))

            self.train = split(data.train_mask)
            self.val = split(data.val_mask)
            self.test = split(data.test_mask)
            self.steps_per_epoch = 1
            # The forward and backward pass run over every node, not only the labelled ones.
            self.examples_per_epoch = int(data.y.shape[0])
        else:
            self.train = data.train_dataset(batch_size, seed)
            self.val = data.eval_dataset("val", batch_size)
            self.test = data.eval_dataset("test", batch_size)
            self.steps_per_epoch = data.steps_per_epoch(batch_size)
            self.examples_per_epoch = _train_size(data) or self.steps_per_epoch * batch_size


def _train_size(data: Any) -> int | None:
    """Training examples in one pass over `data` if it knows them (arrays), else None."""
    if hasattr(data, "x_train"):
        return len(data.x_train)
    train = getattr(data, "train", None)
    if isinstance(train, tuple) and train:
        return len(train[0])
    return None  # a batched tf.data.Dataset: steps x batch size (the last batch may be smaller)
