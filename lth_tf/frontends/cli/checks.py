"""Checks of command-line arguments that need no TensorFlow, shared by commands."""

from __future__ import annotations

from pathlib import Path

from lth_tf.core.errors import LthError


def _check_data_dir(path: str | None) -> str | None:
    if path is not None and not Path(path).is_dir():
        raise LthError(
            f"--data-dir {path} is not a folder; point it at a folder laid out like shared/data"
        )
    return path
