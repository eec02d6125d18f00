"""tf.distribute for `train.strategy` = default | mirrored[:N] | multi_worker: making the strategy, running a step.

- `default`: one device, TensorFlow's default strategy (no scope).
- `mirrored`: `MirroredStrategy` over the local GPUs (the one CPU without GPUs);
  `mirrored:N` splits the CPU into N logical devices (for tests and benchmarks).
- `multi_worker`: `MultiWorkerMirroredStrategy`, the cluster and this process's
  task read from `TF_CONFIG` (lth_tf/platform/placement.py says who is chief).

`make_strategy(spec)` is called once per process, by `Platform.from_settings`
(lth_tf/platform/platform.py), before TensorFlow touches a device. A process has
one strategy: TensorFlow fixes the logical devices and the multi-worker
collectives once, so a second, different one is refused. Which one the process
has is asked of TensorFlow itself (its CPU split, whether it joined a cluster),
never kept here.

`train.batch_size` is the global batch: Keras splits each batch over the replicas.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from lth_tf.core.config.strategy import Spec
from lth_tf.core.errors import LthError

log = logging.getLogger(__name__)

TIMEOUT_VAR = "LTH_COLLECTIVE_TIMEOUT"  # seconds a collective may wait for a peer (default: no limit)
NEW_PROCESS = "run it in a new process"


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


def make_strategy(spec: Spec):
    """The tf.distribute strategy `spec` names, made for this process.

    LthError when TensorFlow already fixed another one here: a CPU split into
    another number of logical devices, or a cluster this process joined.
    """
    from lth_tf.platform.backend import tf

    in_use = strategy_in_use(tf)
    if in_use is not None and (in_use != spec or spec.kind == "multi_worker"):
        again = " (a process joins its cluster once: pass the platform made first)" if in_use == spec else ""
        raise LthError(f"train.strategy {str(spec)!r} in a process already using {in_use}{again}; {NEW_PROCESS}")
    if spec.kind == "default":
        tf.config.list_logical_devices("CPU")  # fixes the devices as they are: one strategy per process
        return tf.distribute.get_strategy()
    if spec.kind == "mirrored":
        return tf.distribute.MirroredStrategy(_mirrored_devices(tf, spec))
    if not os.environ.get("TF_CONFIG"):
        raise LthError("train.strategy=multi_worker needs TF_CONFIG (cluster and task) in the "
                       "environment; see docs/multi-device.md in the repository")
    timeout = collective_timeout()
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
        )
    except RuntimeError as e:  # TensorFlow's context is already initialised
        raise LthError(f"train.strategy=multi_worker must be set up before TensorFlow runs anything ({e}); "
                       "use a new process") from None


def strategy_in_use(tf) -> Spec | None:
    """The strategy TensorFlow has fixed for this process, as far as it tells; None: nothing fixed.

    A joined cluster means multi_worker; a CPU split into N > 1 logical devices
    means mirrored:N. Neither is undone within a process.
    """
    from tensorflow.python.eager import context

    if context.context().coordination_service is not None:  # set when the process joined a cluster
        return Spec("multi_worker")
    split = tf.config.get_logical_device_configuration(tf.config.list_physical_devices("CPU")[0])
    if split and len(split) > 1:
        return Spec("mirrored", len(split))
    return None


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
