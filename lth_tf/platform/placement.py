"""Where this process sits in a run: its `train.strategy`, its task in the cluster, where it writes.

    placement = Placement.from_settings(exp.train)   # the one parse of train.strategy
    out = placement.output_root(out)                  # non-chief workers write to scratch

Pure (TF_CONFIG and the environment, no TensorFlow), so a front end knows where
the run directory is before TensorFlow loads. `Platform.from_settings` takes it
and adds the strategy (lth_tf/platform/platform.py).

multi_worker: the cluster and this process's task come from `TF_CONFIG`. The chief
(task `chief`, or `worker` 0 in a cluster without one) writes the run directory;
the other workers write theirs under `scratch_root()`. Every other strategy runs
in one process, which is its own chief.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lth_tf.core.config.strategy import Spec, parse_strategy
from lth_tf.core.errors import LthError

SCRATCH_VAR = "LTH_SCRATCH_DIR"  # where non-chief workers write (default: the temp dir)


def task() -> tuple[str, int, int]:
    """(task type, task index, workers) from TF_CONFIG; ("worker", 0, 1) without it."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return "worker", 0, 1
    try:
        cfg = json.loads(raw)
        cluster, t = cfg["cluster"], cfg["task"]
        workers = sum(len(cluster.get(k, [])) for k in ("chief", "worker"))
        return str(t["type"]), int(t["index"]), workers
    except (ValueError, KeyError, TypeError):
        raise LthError(
            'TF_CONFIG is not {"cluster": {"worker": [...]}, "task": {"type": ..., "index": ...}}; '
            "set it in that shape (docs/multi-device.md in the repository)"
        ) from None


@dataclass(frozen=True)
class Placement:
    """The strategy's `Spec` and this process's part in it."""

    spec: Spec = field(default_factory=Spec)
    task_type: str = "worker"
    task_index: int = 0
    workers: int = 1
    chief: bool = True  # writes the run directory and exports tickets

    @classmethod
    def from_settings(cls, train: Any) -> Placement:
        """The placement `train.strategy` names (LthError for an unknown one)."""
        return cls.of(parse_strategy(train.strategy))

    @classmethod
    def of(cls, spec: Spec) -> Placement:
        if spec.kind != "multi_worker":
            return cls(spec)
        kind, index, workers = task()  # checks TF_CONFIG's shape
        has_chief = "chief" in json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
        chief = kind == "chief" or (kind == "worker" and index == 0 and not has_chief)
        return cls(spec, kind, index, workers, chief)

    def scratch_root(self) -> Path:
        """Where a non-chief worker of this host writes its copy of the run."""
        base = os.environ.get(SCRATCH_VAR) or Path(tempfile.gettempdir()) / "lth-tf-scratch"
        return Path(base) / f"{self.task_type}-{self.task_index}"

    def output_root(self, out: str | Path) -> Path:
        """`out` for the chief (and single-process runs); the scratch folder for other workers."""
        return Path(out) if self.chief else self.scratch_root()
