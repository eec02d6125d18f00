"""A compact ticket format: nonzero values plus a one-bit-per-weight mask.

A SavedModel stores every pruned weight as a float32 zero, so a 98%-sparse
ticket is barely smaller than the dense model before compression. This format
stores, for each weight tensor, either the raw array (dense tensors such as
biases and BatchNorm statistics) or a packed bit mask and the float32 values
where the mask is 1. It is an .npz (zip, deflate), read back with numpy alone.

The lower bound it is measured against: 4 bytes per nonzero weight plus one bit
per prunable weight (the mask), plus the dense tensors at 4 bytes per value.
Bits and values are `lth_tf.export.packing.split` (the sparse export's packing).
No TensorFlow here.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from lth_tf.export import packing

FORMAT = "lth-tf-compact-1"


def pack(weights: list[tuple[str, np.ndarray]], sparse_threshold: float = 0.1) -> dict[str, np.ndarray]:
    """Arrays of the compact form. Tensors with more than `sparse_threshold`
    zeros are stored as (bit mask, nonzero values); the rest as they are."""
    out: dict[str, np.ndarray] = {}
    index = []
    for i, (name, w) in enumerate(weights):
        w = np.asarray(w)
        key = f"t{i:04d}"
        if w.size >= 64 and 1.0 - packing.nonzero(w).mean() > sparse_threshold:
            out[f"{key}.bits"], out[f"{key}.values"] = packing.split(w)
            kind = "sparse"
        else:
            out[f"{key}.dense"] = w
            kind = "dense"
        index.append({"key": key, "name": name, "shape": list(w.shape), "dtype": str(w.dtype), "kind": kind})
    out["index"] = np.frombuffer(json.dumps({"format": FORMAT, "tensors": index}).encode(), np.uint8)
    return out


def unpack(arrays: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """Inverse of pack: the named tensors, zeros restored."""
    meta = json.loads(bytes(arrays["index"]).decode())
    if meta.get("format") != FORMAT:
        raise ValueError(f"not a compact ticket (format {meta.get('format')!r})")
    result = []
    for t in meta["tensors"]:
        shape, dtype, key = tuple(t["shape"]), np.dtype(t["dtype"]), t["key"]
        if t["kind"] == "dense":
            w = arrays[f"{key}.dense"]
        else:
            w = packing.join(arrays[f"{key}.bits"], arrays[f"{key}.values"], shape, dtype)
        result.append((t["name"], w))
    return result


def save(weights: list[tuple[str, np.ndarray]], path: str | Path) -> Path:
    """Write the compact ticket (.npz, compressed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, **pack(weights))
    path.write_bytes(buf.getvalue())
    return path


def load(path: str | Path) -> list[tuple[str, np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return unpack({k: z[k] for k in z.files})
    except (OSError, zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"{path} is not a readable compact ticket ({type(e).__name__})") from None


def lower_bound_bytes(weights: list[tuple[str, np.ndarray]], prunable: set[str]) -> int:
    """4 bytes per nonzero prunable weight + 1 bit per prunable weight + dense tensors
    (`packing.bound_bytes`, the sparse export's bound)."""
    return packing.bound_bytes([w for n, w in weights if n in prunable],
                               [w for n, w in weights if n not in prunable])
