"""A short digest of a set of masks: the same bits and shapes give the same digest."""

from __future__ import annotations

import hashlib

import numpy as np


def mask_digest(masks: dict[str, np.ndarray]) -> str:
    """16 hex characters of sha256 over the masks (keys sorted, shapes and 0/1 bits)."""
    h = hashlib.sha256()
    for key in sorted(masks):
        m = np.asarray(masks[key]) != 0
        h.update(f"{key}:{m.shape};".encode())
        h.update(np.packbits(m.ravel()).tobytes())
    return h.hexdigest()[:16]
