"""The random-mask control: the same number of kept weights per layer, at random positions.

Pure numpy (conventions in lth_tf/core/masks/magnitude.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from lth_tf.core.masks.counts import Masks


def random_masks(
    masks: Mapping[str, np.ndarray],
    rng: np.random.Generator | int,
    exclude: Collection[str] = (),
) -> Masks:
    """The random-mask control: per layer as many kept weights as `masks`, at random positions.

    `rng` is a ``np.random.Generator`` (or an int seed for one). Layers are drawn
    in sorted name order, so a given generator state gives the same masks
    whatever the dict order. Excluded layers keep their mask.
    """
    if not isinstance(rng, np.random.Generator):
        if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
            rng = np.random.default_rng(int(rng))
        else:
            raise TypeError(
                f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}"
            )
    excluded = set(exclude)
    out: dict[str, np.ndarray] = {}
    for name in sorted(masks):
        m = np.asarray(masks[name])
        if name in excluded:
            out[name] = m.astype(np.float32, copy=True)
            continue
        kept = int(np.count_nonzero(m))
        flat = np.zeros(m.size, dtype=np.float32)
        if kept == m.size:
            flat[:] = 1.0
        elif kept:
            flat[rng.choice(m.size, size=kept, replace=False)] = 1.0
        out[name] = flat.reshape(m.shape)
    return {name: out[name] for name in masks}
