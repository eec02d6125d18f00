"""`train.strategy`: its grammar, parsed without TensorFlow.

default | mirrored (local GPUs) | mirrored:N (N logical CPU devices) | multi_worker
(TF_CONFIG). A front end parses it once into the process's platform
(`lth_tf/platform/platform.py`), which makes the strategy the `Spec` names;
config validation checks the text here, before TF loads.
"""

from __future__ import annotations

from dataclasses import dataclass

from lth_tf.core.errors import LthError

KINDS = ("default", "mirrored", "multi_worker")


@dataclass(frozen=True)
class Spec:
    kind: str = "default"
    devices: int | None = None  # mirrored:N: N logical CPU devices

    @property
    def distributed(self) -> bool:
        return self.kind != "default"

    def __str__(self) -> str:
        """The setting's text: default, mirrored, mirrored:N or multi_worker."""
        return self.kind if self.devices is None else f"{self.kind}:{self.devices}"


def parse_strategy(text: str) -> Spec:
    """The strategy `train.strategy` names; LthError for anything else (pure)."""
    kind, sep, count = str(text).partition(":")
    ok = kind in KINDS and (not sep or (kind == "mirrored" and count.isdigit() and int(count) >= 1))
    if not ok:
        raise LthError(
            f"train.strategy {text!r} is unknown; use default, mirrored, mirrored:N (N logical CPU devices) "
            "or multi_worker"
        )
    return Spec(kind, int(count) if sep else None)
