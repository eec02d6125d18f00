"""The platform of a run: what this process trains on, made once from the settings and passed down.

    platform = Platform.from_settings(exp.train)   # a front end, once, before TF touches a device
    search = LotterySearch(exp, platform=platform) # and down: engine, training, mask checks, sync

A `Platform` holds the strategy's `Spec`, the tf.distribute strategy, this
process's place in it (`Placement`: replicas, workers, chief, the scratch rule
for non-chief workers), oneDNN's state (on/off, who chose) and the run's speed
settings (`chosen`, a `speed.Settings`: precision, XLA, oneDNN, threads, each with
its source and reason; `precision` and `jit_compile` are what the engine and
training read). Nothing about it lives in a module: the modules that need it get
it as an argument.

- `enter_scope()`: the engine calls it right after `clear_session` (which drops
  any scope, because the strategy stack lives on the default graph it resets),
  so models, masks, optimizer and Distiller of the session live in the strategy.
- `local()`: models built inside are plain (exports: the chief alone, no collectives).
- `run_step(model, step, batch)`: a step outside `fit` (the full-batch GCN, `evaluate`).
- `output_root(out)`, `writes_exports`: only the chief writes the run dir and exports.
- `settings()`: `run_started.runtime`.
- `with_chosen(chosen)`: the same platform with other speed settings (a resumed run's).

`Platform.single(train)` is one device without making a strategy (exports and
reports of any run, on any machine). The strategy string is parsed once, by
`Placement.from_settings` (a front end that must know the run directory before
TensorFlow loads makes the placement first and passes it in).
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lth_tf.core import config as C
from lth_tf.core.config.strategy import Spec
from lth_tf.core.errors import LthError
from lth_tf.platform import onednn, speed
from lth_tf.platform.placement import Placement


class Platform:
    """Where and how this process trains (see the module doc)."""

    def __init__(
        self,
        placement: Placement,
        strategy: Any,
        onednn_state: onednn.State,
        chosen: speed.Settings | None = None,
    ):
        self.placement = placement
        self.strategy = strategy  # tf.distribute.Strategy
        self.onednn = onednn_state
        self.chosen = speed.in_force(chosen or unknown_workload(C.Train()), onednn_state.enabled)
        self._local = 0  # depth of `local()` blocks
        self._scope: Any = None  # the entered scope, kept alive (see enter_scope)

    @classmethod
    def from_settings(cls, train: Any, placement: Placement | None = None,
                      chosen: speed.Settings | None = None) -> Platform:
        """The platform `train` asks for: its strategy made now (once per process).

        `placement`: the one `Placement.from_settings(train)` the caller already made.
        `chosen`: the run's speed settings (`search/run_settings.for_run`); without
        them, `train`'s own values and, for "auto", the rules for an unknown workload.
        TensorFlow's thread pools are sized here, before it runs an op.
        LthError when this process already has another strategy (TensorFlow fixes it once).
        """
        from lth_tf.platform import distribute, runtime

        placement = placement or Placement.from_settings(train)
        chosen = chosen or unknown_workload(train)
        runtime.apply_threads(chosen)
        strategy = distribute.make_strategy(placement.spec)
        return cls(placement, strategy, runtime.onednn_state(), chosen)

    @classmethod
    def single(cls, train: Any = None, chosen: speed.Settings | None = None) -> Platform:
        """One device, this process alone, no strategy made: exports and reports of any run.

        `chosen` (or `train`, as in `from_settings`) gives the precision and XLA settings.
        """
        from lth_tf.platform import runtime
        from lth_tf.platform.backend import tf

        chosen = chosen or unknown_workload(train if train is not None else C.Train())
        return cls(Placement(), tf.distribute.get_strategy(), runtime.onednn_state(), chosen)

    def with_chosen(self, chosen: speed.Settings) -> Platform:
        """This platform (same strategy and placement) with the speed settings `chosen`
        (oneDNN and the thread pools stay as this process has them, if fixed already)."""
        from lth_tf.platform import runtime

        runtime.apply_threads(chosen)
        other = copy.copy(self)
        other.chosen = speed.in_force(chosen, self.onednn.enabled)
        other._local = 0
        return other

    # -- facts ---------------------------------------------------------------------------------
    @property
    def precision(self) -> str:
        """float32 or mixed_bfloat16: what the run computes in."""
        return str(self.chosen.precision.value)

    @property
    def jit_compile(self) -> bool:
        """Whether the train and test steps are XLA-compiled."""
        return bool(self.chosen.jit_compile.value)

    @property
    def spec(self) -> Spec:
        return self.placement.spec

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync) if self.spec.distributed else 1

    @property
    def workers(self) -> int:
        return self.placement.workers

    @property
    def chief(self) -> bool:
        return self.placement.chief

    @property
    def writes_exports(self) -> bool:
        """Whether this process exports tickets (every process but a non-chief worker)."""
        return self.placement.chief

    def output_root(self, out: str | Path) -> Path:
        """`out` for the chief (and single-process runs); the scratch folder for other workers."""
        return self.placement.output_root(out)

    def settings(self) -> dict[str, Any]:
        """What is in force and what runs where: `run_started.runtime`."""
        from lth_tf.platform import runtime

        return {
            **runtime.speed_settings(self.onednn, self.jit_compile, self.precision),
            "strategy": self.spec.kind,
            "replicas": self.replicas,
            "workers": self.workers,
            "chief": self.chief,
            "chosen": self.chosen.to_dict(),  # each speed setting: value, source, reason
        }

    def lost_peer(self, error: BaseException) -> LthError | None:
        """The one-line error for `error` if it is how a multi-worker run sees a worker that
        stopped answering (a collective timed out or was cancelled), else None."""
        if self.spec.kind != "multi_worker" or self.workers < 2:
            return None
        from lth_tf.platform.backend import tf

        lost = (tf.errors.DeadlineExceededError, tf.errors.UnavailableError, tf.errors.CancelledError,
                tf.errors.AbortedError)
        if not isinstance(error, lost):
            return None
        text = re.sub(r"\{\{[^}]*\}\}\s*", "", str(error)).strip()  # TensorFlow's function names: noise
        first = (text.splitlines() or [type(error).__name__])[0][:160]
        return LthError(
            f"a worker of this {self.workers}-worker run stopped answering ({type(error).__name__}: {first}); "
            "stop every worker, then start the same command on each machine again: the run resumes "
            "after its last stored round"
        )

    def __repr__(self) -> str:
        return f"Platform({self.spec}, replicas={self.replicas}, workers={self.workers}, chief={self.chief})"

    # -- the strategy --------------------------------------------------------------------------
    def enter_scope(self) -> None:
        """Enter the strategy's scope for the current Keras session (no-op for default and in `local()`).

        Not exited on purpose: the next `clear_session` resets the default graph that
        holds the strategy stack, which ends it.
        """
        if self.spec.distributed and not self._local:
            scope = self.strategy.scope()
            scope.__enter__()
            self._scope = scope  # kept alive: a collected scope object closes its variable-creator context

    @contextlib.contextmanager
    def local(self) -> Iterator[None]:
        """Models built inside are plain, outside the strategy (exports: the chief alone)."""
        self._local += 1
        try:
            yield
        finally:
            self._local -= 1

    def run_step(self, model, step, batch) -> dict[str, Any]:
        """`step(batch)` on every replica of the model's strategy (each gets the whole batch); replica 0's logs."""
        from lth_tf.platform import distribute

        return distribute.run_step(model, step, batch)


def unknown_workload(train: Any) -> speed.Settings:
    """The speed settings of `train` alone: its own values, and for "auto" the rules for
    a workload nobody named (float32, no XLA: nothing measured says otherwise)."""
    return speed.choose(train, speed.Workload(kind="unknown"), speed.Cpu.read(), os.environ)
