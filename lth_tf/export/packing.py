"""Pruned kernels without their zeros: one bit mask for all of them, one values array.

The sparse SavedModel (lth_tf.export.sparse) stores every pruned kernel of a
ticket in two flat arrays: `bits`, the kernels' nonzero patterns concatenated
(kernel by kernel, each row-major) and packed eight to a byte, most significant
bit first (`np.packbits`, which `tf.bitwise` undoes in the serving graph), and
`values`, the nonzero entries in the same order, as float32. A `Layout` says
where each kernel's bits and values start. Concatenating (rather than one pair
per kernel) keeps the checkpoint to two tensors, so its per-tensor overhead
stays small next to the bound on a small, very sparse model (a Cora GCN at 99%
holds 230 nonzero weights).

Zeros are numeric: masking (kernel * mask) leaves -0.0 wherever a negative
weight was pruned, and those are dropped like +0.0. Unpacking gives back every
nonzero entry bit for bit and every zero as +0.0 (equal to -0.0, and
indistinguishable in any product the serving graph computes).

The bound an export is measured against (issue 12): 4 bytes per nonzero pruned
weight, 1 bit per pruned weight, 4 bytes per other weight. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Slot:
    """Where one kernel lives in the packed arrays."""

    shape: tuple[int, ...]
    bit_offset: int  # first bit of the kernel in the unpacked mask
    value_offset: int  # first of its values
    nonzeros: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True)
class Packed:
    bits: np.ndarray  # uint8, ceil(total / 8)
    values: np.ndarray  # float32, sum of nonzeros
    slots: tuple[Slot, ...]

    @property
    def total(self) -> int:
        """Weights packed (bits that carry a kernel entry; the rest of the last byte is 0)."""
        return sum(s.size for s in self.slots)


def nonzero(w: np.ndarray) -> np.ndarray:
    """Boolean pattern of the entries that are not zero (+0.0 or -0.0); NaN counts as nonzero."""
    return np.asarray(w) != 0


def split(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(packed bits of w's nonzero pattern, row-major, MSB first; its nonzero values in w's dtype).

    The one bit packing of lth_tf: the sparse export packs its kernels' concatenation
    with it, the compact ticket format (`lth_tf.export.compact`) each tensor on its own.
    """
    w = np.asarray(w)
    nz = nonzero(w)
    return np.packbits(nz.ravel()), w[nz]  # row-major order, as tf.where lists the entries


def join(bits: np.ndarray, values: np.ndarray, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """Inverse of `split`: the array, nonzeros bit for bit, zeros as +0.0."""
    size = int(np.prod(shape, dtype=np.int64))
    mask = np.unpackbits(np.asarray(bits, np.uint8), count=size).astype(bool)
    flat = np.zeros(size, dtype)
    flat[mask] = values
    return flat.reshape(shape)


def pack(kernels: list[np.ndarray]) -> Packed:
    """The kernels' nonzero pattern (packed bits) and nonzero values, as float32."""
    flats = [np.asarray(k, np.float32).ravel() for k in kernels]
    bits, values = split(np.concatenate(flats) if flats else np.zeros(0, np.float32))
    slots, bit, value = [], 0, 0
    for k, flat in zip(kernels, flats):
        count = int(nonzero(flat).sum())
        slots.append(Slot(tuple(int(d) for d in np.shape(k)), bit, value, count))
        bit, value = bit + flat.size, value + count
    return Packed(bits, values, tuple(slots))


def unpack(packed: Packed) -> list[np.ndarray]:
    """The kernels `pack` was given, zeros restored (exact, bit for bit)."""
    flat = join(packed.bits, packed.values, (packed.total,))
    return [
        flat[s.bit_offset : s.bit_offset + s.size].reshape(s.shape) for s in packed.slots
    ]


def bound_bytes(pruned: list[np.ndarray], others: list[np.ndarray]) -> int:
    """4 bytes per nonzero pruned weight + 1 bit per pruned weight + 4 bytes per other weight."""
    bits = sum(32 * int(np.count_nonzero(w)) + int(np.size(w)) for w in pruned)
    bits += sum(32 * int(np.size(w)) for w in others)
    return (bits + 7) // 8
