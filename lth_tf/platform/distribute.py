"""tf.distribute inside one run: `train.strategy` = default | mirrored[:N] | multi_worker.

    distribute.setup(exp.train)   # once per process, before TensorFlow touches a device
    out = distribute.output_root(out, exp.train)   # non-chief workers write to scratch

- `default`: one device, TensorFlow's default strategy (today's behaviour, no scope).
- `mirrored`: `MirroredStrategy` over the local GPUs (the one CPU without GPUs);
  `mirrored:N` splits the CPU into N logical devices (for tests and benchmarks).
- `multi_worker`: `MultiWorkerMirroredStrategy`, the cluster and this process's
  task read from `TF_CONFIG`. Every worker runs the same `lth-tf run`; the chief
  (task `chief`, or `worker` 0 in a cluster without one) writes the run directory,
  the others write theirs under `scratch_root()`. At the start of a run the chief
  sends its stored rounds, controls and rewind point to the others
  (`worker_sync.sync_run_dir`), so all workers resume from the chief's checkpoints.

`train.batch_size` is the global batch: Keras splits each batch over the replicas.
Models, wrappers, masks, optimizers and the Distiller are created under the
strategy's scope: `enter_scope()` enters it for the current Keras session (the
engine calls it right after `clear_session`, which drops any scope because the
strategy stack lives on the default graph it resets).

Masks are computed on every worker from the same stored weights with the same
numpy rule; `check_masks` proves they agree after each round: the digest of every
local replica's mask variables must be equal, and equal to the chief's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lth_tf.core.config.strategy import Spec, parse_strategy
from lth_tf.core.errors import LthError

log = logging.getLogger(__name__)

SCRATCH_VAR = "LTH_SCRATCH_DIR"  # where non-chief workers write (default: the temp dir)
TIMEOUT_VAR = "LTH_COLLECTIVE_TIMEOUT"  # seconds a collective may wait for a peer (default: no limit)


# -- the cluster (pure: TF_CONFIG) ------------------------------------------------------------
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
            "set it in that shape (README, 'One search on several devices or machines')"
        ) from None


def is_chief(spec: Spec) -> bool:
    """Whether this process writes the run directory (always, unless a non-chief worker)."""
    if spec.kind != "multi_worker":
        return True
    kind, index, _ = task()
    has_chief = "chief" in json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    return kind == "chief" or (kind == "worker" and index == 0 and not has_chief)


def scratch_root() -> Path:
    """Where a non-chief worker of this host writes its copy of the run."""
    kind, index, _ = task()
    base = os.environ.get(SCRATCH_VAR) or Path(tempfile.gettempdir()) / "lth-tf-scratch"
    return Path(base) / f"{kind}-{index}"


def output_root(out: str | Path, train: Any) -> Path:
    """`out` for the chief (and single-process runs); the scratch folder for other workers."""
    spec = parse_strategy(train.strategy)
    return Path(out) if is_chief(spec) else scratch_root()


def collective_timeout() -> float | None:
    """Seconds a worker waits for a silent peer ($LTH_COLLECTIVE_TIMEOUT; unset: no limit)."""
    raw = os.environ.get(TIMEOUT_VAR)
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise LthError(f"{TIMEOUT_VAR}={raw!r} is not a number of seconds; set e.g. {TIMEOUT_VAR}=600 or unset it")
    return seconds


# -- the strategy (TensorFlow from here on) ---------------------------------------------------
_made: dict[str, Any] = {}  # {"spec": Spec, "strategy": tf.distribute.Strategy}


def setup(train: Any):
    """The process's strategy for `train.strategy`, made on the first call.

    A process has one: logical devices and the multi-worker collectives are fixed
    once TensorFlow initialises its devices, so asking for another one fails.
    """
    from lth_tf.platform.backend import tf

    spec = parse_strategy(train.strategy)
    if "spec" in _made:
        if _made["spec"] != spec:
            raise LthError(f"train.strategy {train.strategy!r} in a process already using "
                           f"{_made['spec'].kind}; run it in a new process")
        return _made["strategy"]
    if spec.kind == "default":
        strategy = tf.distribute.get_strategy()
    elif spec.kind == "mirrored":
        strategy = tf.distribute.MirroredStrategy(_mirrored_devices(tf, spec))
    else:
        if not os.environ.get("TF_CONFIG"):
            raise LthError("train.strategy=multi_worker needs TF_CONFIG (cluster and task) in the "
                           "environment; see README, 'One search on several devices or machines'")
        timeout = collective_timeout()
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy(
                communication_options=tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
            )
        except RuntimeError as e:  # TensorFlow's context is already initialised
            raise LthError(f"train.strategy=multi_worker must be set up before TensorFlow runs anything ({e}); "
                           "use a new process") from None
    _made.update(spec=spec, strategy=strategy)
    return strategy


def _mirrored_devices(tf, spec: Spec) -> list[str] | None:
    """Device names for mirrored:N (N logical CPUs), or None: all local GPUs (else the CPU)."""
    if spec.devices is None:
        return None
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * spec.devices)
    except RuntimeError:  # devices initialised: only an identical split is still possible
        if len(tf.config.list_logical_devices("CPU")) != spec.devices:
            raise LthError(f"train.strategy=mirrored:{spec.devices} must be set before TensorFlow initialises "
                           "its devices; start a new process (lth-tf run does this)") from None
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def current():
    """The strategy `setup` made, or TensorFlow's default one."""
    from lth_tf.platform.backend import tf

    return _made["strategy"] if "strategy" in _made else tf.distribute.get_strategy()


def spec() -> Spec:
    return _made.get("spec", Spec())


def enter_scope() -> None:
    """Enter the strategy's scope for the current Keras session (no-op for default).

    Not exited on purpose: the next `clear_session` resets the default graph that
    holds the strategy stack, which ends it.
    """
    if spec().distributed and not _made.get("local"):
        scope = current().scope()
        scope.__enter__()
        # Kept alive: a collected scope object closes its variable-creator context.
        _made["scope"] = scope


@contextlib.contextmanager
def local() -> Iterator[None]:
    """Models built inside are plain, outside the strategy (exports: the chief alone)."""
    _made["local"] = True
    try:
        yield
    finally:
        _made.pop("local", None)


def writes_exports() -> bool:
    """Whether this process exports tickets (every process but a non-chief worker)."""
    return is_chief(spec())


def settings() -> dict[str, Any]:
    """What runs where, for `run_started.runtime`."""
    s = spec()
    replicas = current().num_replicas_in_sync if "strategy" in _made else 1
    workers = task()[2] if s.kind == "multi_worker" else 1
    return {"strategy": s.kind, "replicas": replicas, "workers": workers,
            "chief": is_chief(s)}


# -- steps outside fit (the full-batch GCN) ------------------------------------------------------
def run_step(model, step, batch) -> dict[str, Any]:
    """`step(batch)` on every replica (each gets the whole batch); replica 0's logs.

    Keras scales each replica's loss by 1 / replicas and sums the gradients, so a
    replicated full batch takes the same step as one device (at N times the work).
    """
    from lth_tf.platform.backend import tf

    if not tf.distribute.has_strategy():
        return step(batch)
    strategy = model.distribute_strategy
    if tf.executing_eagerly():  # evaluate(): eager strategy.run is slow and warns
        out = tf.function(lambda: strategy.run(step, args=(batch,)))()
    else:
        out = strategy.run(step, args=(batch,))
    return {k: strategy.experimental_local_results(v)[0] for k, v in out.items()}
