"""The user's cache folder: $LTH_CACHE_DIR, default ~/.cache/lth_tf.

Decoded CIFAR-10 arrays (keras_side/data/cifar10.py), `lth-tf tune`'s winners
(platform/tune_cache.py) and the TUI's log live there; never inside a data folder,
which may be read-only.
"""

from __future__ import annotations

import os
from pathlib import Path

VAR = "LTH_CACHE_DIR"
DEFAULT = "~/.cache/lth_tf"


def cache_dir() -> Path:
    """The cache folder (not created here)."""
    return Path(os.environ.get(VAR) or DEFAULT).expanduser()
