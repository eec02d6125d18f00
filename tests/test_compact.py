"""The compact ticket format (lth_tf/export/compact.py): exact round trip through the shared
bit packing (lth_tf.export.packing.split/join), and its bound. numpy only."""

from __future__ import annotations

import numpy as np
import pytest

from lth_tf.export import compact, packing


def tensors(seed: int = 0) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    k = rng.standard_normal((7, 13)).astype(np.float32)
    k[rng.random(k.shape) < 0.9] = 0.0
    k.flat[3] = -0.0 if k.flat[3] == 0 else k.flat[3]
    half = rng.standard_normal((5, 5, 3)).astype(np.float16) * (rng.random((5, 5, 3)) < 0.3)
    return [("conv/kernel", k), ("conv/bias", rng.standard_normal(13).astype(np.float32)),
            ("h/kernel", half), ("scalar", np.float32(2.5).reshape(())), ("empty", np.zeros((0, 4), np.float32))]


def test_save_load_round_trip_is_exact(tmp_path):
    named = tensors()
    back = compact.load(compact.save(named, tmp_path / "t.npz"))
    assert [n for n, _ in back] == [n for n, _ in named]
    for (_, w), (_, b) in zip(named, back):
        assert b.dtype == w.dtype and b.shape == w.shape
        assert np.array_equal(b, w)
        assert np.array_equal(np.signbit(b[b != 0]), np.signbit(w[w != 0]))  # nonzeros bit for bit
    arrays = compact.pack(named)
    assert "t0000.bits" in arrays and "t0001.dense" in arrays  # sparse kernel, dense bias


@pytest.mark.parametrize("shape", [(0,), (1,), (8,), (9,), (3, 5, 7)])
def test_split_join_match_the_sparse_exports_pack(shape):
    rng = np.random.default_rng(sum(shape))
    w = rng.standard_normal(shape).astype(np.float32) * (rng.random(shape) < 0.4)
    bits, values = packing.split(w)
    assert bits.nbytes == (w.size + 7) // 8 and values.size == np.count_nonzero(w)
    assert np.array_equal(packing.join(bits, values, shape), w)
    packed = packing.pack([w])  # the sparse export packs the same bits and values
    assert np.array_equal(packed.bits, bits) and np.array_equal(packed.values, values)


def test_lower_bound_is_the_sparse_exports_bound():
    named = tensors(1)
    prunable = {"conv/kernel", "h/kernel"}
    k, h = named[0][1], named[2][1]
    others = 13 + 1  # bias and scalar, 4 bytes each
    hand_bits = 32 * (np.count_nonzero(k) + np.count_nonzero(h)) + k.size + h.size + 32 * others
    assert compact.lower_bound_bytes(named, prunable) == (hand_bits + 7) // 8
