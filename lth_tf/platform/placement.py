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
        kind, index = str(t["type"]), int(t["index"])
        listed = len(cluster.get(kind, []))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise LthError(
            'TF_CONFIG is not {"cluster": {"worker": [...]}, "task": {"type": ..., "index": ...}}; '
            "set it in that shape (docs/multi-device.md in the repository)"
        ) from None
    if kind not in ("chief", "worker"):
        raise LthError(f"TF_CONFIG task type {kind!r} is not one lth-tf runs; use \"chief\" or \"worker\"")
    if not 0 <= index < listed:
        where = f"indices 0..{listed - 1}" if listed else "none"
        raise LthError(
            f"TF_CONFIG task {kind} index {index} is not in the cluster, which lists {listed} {kind} "
            f"address{'es' if listed != 1 else ''} ({where}); set task.index to this process's place in that list"
        )
    return kind, index, workers


def usable_cpus() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def max_devices() -> int:
    """The most logical CPU devices mirrored:N may ask for: one per core (two always work,
    as the tests and docs use them); more only make each replica slower, and TensorFlow
    hangs setting up very many."""
    return max(2, usable_cpus())


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
        if spec.devices is not None and spec.devices > max_devices():
            raise LthError(
                f"train.strategy mirrored:{spec.devices} asks for {spec.devices} replicas, and this process "
                f"has {usable_cpus()} CPU core(s); use mirrored:N with N at most {max_devices()}, or default"
            )
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
