"""The stored form of a sparse export: one uint8 blob and the graph ops that read it back.

The blob holds, byte for byte:

    the nonzero entries of every pruned kernel   float32, little-endian
    every other float32 weight (biases, BatchNorm...), flat
    the pruned kernels' nonzero pattern           1 bit a weight (lth_tf.export.packing)

Weights of other dtypes get one variable per dtype. Reading a kernel back:
unpack the bits (tf.bitwise), then tf.where and a segment sum put the values
in place (or a tf.SparseTensor takes them as they are).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lth_tf.export import packing
from lth_tf.platform.backend import tf

_SHIFTS = np.arange(7, -1, -1, dtype=np.uint8)  # MSB first, as np.packbits


@dataclass(frozen=True)
class _Layout:
    slots: tuple[packing.Slot, ...]
    total: int
    other_at: tuple[tuple[str, int, tuple[int, ...]], ...]
    values: int  # nonzero values (float32) at the blob's start
    floats: int  # other float32 weights after them


class Compressed(tf.Module):
    """The variables of a sparse export and the arithmetic that turns them back into weights.

    One uint8 variable `blob` holds, byte for byte: the nonzero values (float32,
    little-endian), the other float32 weights, then the packed bits. One
    variable rather than three keeps the checkpoint's fixed cost (index entries,
    object graph: about 100 bytes a variable) small next to the bound of a tiny,
    very sparse model. Other weights of other dtypes get one variable per dtype.
    """

    def __init__(self, packed: packing.Packed, others: list[np.ndarray]):
        super().__init__(name="ticket")
        groups: dict[str, list[np.ndarray]] = {}
        other_at = []  # (dtype, offset in its group, shape) of every other weight
        for w in others:
            key = np.dtype(w.dtype).name
            offset = sum(a.size for a in groups.get(key, []))
            groups.setdefault(key, []).append(np.ravel(w))
            other_at.append((key, offset, tuple(w.shape)))
        floats = np.concatenate(groups.pop("float32", [np.zeros(0, np.float32)]))
        parts = [packed.values.astype("<f4").view(np.uint8), floats.astype("<f4").view(np.uint8),
                 packed.bits]
        self.blob = tf.Variable(np.concatenate(parts), trainable=False, name="blob")
        for key, group in groups.items():
            name = f"others_{key}"
            setattr(self, name, tf.Variable(np.concatenate(group), trainable=False, name=name))
        # Plain (untracked) object: the layout lives in the graph as constants, not in variables/.
        self._layout = _Layout(packed.slots, packed.total, tuple(other_at),
                               values=packed.values.size, floats=floats.size)

    def _floats(self, start: int, count: int):
        """float32 entries [start, start + count) of the blob's float part."""
        raw = self.blob[4 * start : 4 * (start + count)]
        return tf.bitcast(tf.reshape(raw, [count, 4]), tf.float32)

    def values(self, start: int = 0, count: int | None = None):
        count = self._layout.values - start if count is None else count
        return self._floats(start, count)

    def mask(self):
        """The unpacked nonzero pattern, (total,) bool."""
        bits = self.blob[4 * (self._layout.values + self._layout.floats) :]
        bits = tf.bitwise.right_shift(bits[:, None], tf.constant(_SHIFTS))
        bits = tf.reshape(tf.bitwise.bitwise_and(bits, 1), [-1])[: self._layout.total]
        return tf.cast(bits, tf.bool)

    def positions(self, mask, i: int):
        """Flat (row-major) positions of pruned kernel `i`'s nonzeros, (nonzeros,) int64."""
        s = self._layout.slots[i]
        return tf.where(mask[s.bit_offset : s.bit_offset + s.size])[:, 0]

    def kernel(self, positions, i: int):
        """Pruned kernel `i`, dense, zeros restored (each position gets exactly one value)."""
        s = self._layout.slots[i]
        values = self.values(s.value_offset, s.nonzeros)
        # unsorted_segment_sum: several times faster than scatter_nd on CPU; 0 + v is v exactly
        return tf.reshape(tf.math.unsorted_segment_sum(values, positions, s.size), s.shape)

    def sparse_kernel(self, positions, i: int):
        """Pruned kernel `i` (rank 2) as a tf.SparseTensor, entries in row-major order."""
        s = self._layout.slots[i]
        cols = s.shape[1]
        indices = tf.stack([positions // cols, positions % cols], axis=1)
        return tf.SparseTensor(indices, self.values(s.value_offset, s.nonzeros), s.shape)

    def others_list(self) -> list[Any]:
        out = []
        for key, offset, shape in self._layout.other_at:
            size = int(np.prod(shape, dtype=np.int64))
            if key == "float32":
                flat = self._floats(self._layout.values + offset, size)
            else:
                flat = getattr(self, f"others_{key}")[offset : offset + size]
            out.append(tf.reshape(flat, shape))
        return out
