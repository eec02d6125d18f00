"""The lottery-ticket search of one configured experiment.

    search = LotterySearch(exp, out="checkpoints")
    for result in search.rounds():      # round 0 = dense, then one per pruning round
        ...
    summary = search.finish(exporter)   # controls, the winning ticket (written by `exporter`)

`LotterySearch` is the adapter from an `Experiment` (registry names, presets,
user sources) to the round engine (`lth_tf.search.engine`): it claims the run
directory, loads the data and builds the model the config names, and around the
engine's rounds writes summary.json, runs the controls and picks the winner.
Writing the winner is the deployment layer's (`lth_tf.export.ticket`): the
front ends pass its `TicketExporter` to `finish`, so this layer never imports it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from lth_tf.core import config as C
from lth_tf.core import criteria, sources
from lth_tf.core import events as E
from lth_tf.core import winner as W
from lth_tf.core.errors import LthError
from lth_tf.core.events import FanOut, JsonlSink
from lth_tf.keras_side import data as datasets
from lth_tf.keras_side import models
from lth_tf.keras_side import pruning as P
from lth_tf.keras_side.data.splits import small_class_warnings, split_sizes
from lth_tf.keras_side.models.user import ModelSource
from lth_tf.keras_side.training.callbacks import Stopped
from lth_tf.platform.placement import Placement
from lth_tf.platform.platform import Platform
from lth_tf.search import run_settings
from lth_tf.search.dense_copy import copy_round0
from lth_tf.search.dense_from import DenseSource
from lth_tf.search.engine import Plan, RoundEngine, RoundResult
from lth_tf.search.worker_sync import sync_run_dir
from lth_tf.storage import rundir, store
from lth_tf.storage.summary import TICKET_KEYS, build_summary, cost_to_reach, pick_winner

# Stopped: what rounds() raises when its stop event is set (the run stays resumable).
__all__ = ["LotterySearch", "Stopped", "TicketExporter"]

log = logging.getLogger(__name__)

_KEEP = object()  # _write_summary: keep the ticket recorded by an earlier finish


class TicketExporter(Protocol):
    """Writes the winning ticket for `LotterySearch.finish` (`lth_tf.export.ticket` has one)."""

    def write(self, search: LotterySearch, round: int, path: Path) -> dict[str, Any]:
        """Export round `round` of `search` to `path`; its ticket fields: path and sizes."""

    def existing(self, path: Path) -> dict[str, Any] | None:
        """The sizes of an export already at `path`, or None when there is none."""


class LotterySearch:
    """One experiment's rounds, checkpointed in `out/<run name>/`."""

    def __init__(
        self,
        exp: C.Experiment,
        out: str | Path = "checkpoints",
        data_dir: str | Path | None = None,
        sink: Callable[[dict], None] | None = None,
        stop: threading.Event | None = None,
        run_dir: str | Path | None = None,
        callbacks_factory: Callable[[int, str], list] | None = None,
        data: Any = None,
        model_source: ModelSource | None = None,
        reinit_source: ModelSource | None = None,
        dense_from: DenseSource | None = None,
        platform: Platform | None = None,
    ):
        """`data`: already loaded data (the CLI loads it before claiming the run
        directory, the Python API passes the user's). `model_source` (and the
        random-reinit control's `reinit_source`): `(input_shape, num_classes, seed)
        -> Built`, used instead of the model `exp.model` names (the Python API's
        in-memory model). `callbacks_factory`: see `RoundEngine`. `dense_from`
        (from `dense_from.check`): a run whose round 0 is copied while this has none.
        `platform`: the process's `Platform` (default: made here for this run, with the
        speed settings of `run_settings.for_run`: what a resumed run started with, else
        chosen now). A front end makes it once and passes it (`Platform.single` for
        exports, which compute in float32 unless the config names a precision); training
        refuses a platform whose precision or XLA differs from what the run started with.
        """
        self.exp = C.validate(exp)
        placement = platform.placement if platform is not None else Placement.from_settings(self.exp.train)
        # A non-chief multi_worker process writes its copy under scratch, never into the chief's folder.
        where = (Path(run_dir).parent, Path(run_dir).name) if run_dir else (out, exp.run_name())
        self.run_dir = placement.output_root(where[0]) / where[1]
        if platform is None:
            rundir.check_holds(self.run_dir, exp.hash())  # another experiment's folder: refused before reading it
            platform = Platform.from_settings(self.exp.train, placement, run_settings.for_run(self.exp, self.run_dir))
        self.platform = platform
        self.store = store.RunStore(self.run_dir)
        self.resumed = self.store.claim(exp.to_toml(), exp.hash(), runtime=self.platform.chosen.to_dict())
        self.sink = FanOut(JsonlSink(rundir.events_path(self.run_dir)), sink)
        self.data_dir = data_dir
        self._data: Any = data
        self.model_source = model_source or models.source(exp.model)
        if reinit_source is None and sources.is_user_model(exp.model.name):
            # A file: model's theta0 is fixed; its control needs fresh weights.
            reinit_source = models.source(replace(exp.model, reinit=True))
        self.reinit_source = reinit_source or self.model_source
        self.dense_from = dense_from
        self.engine = RoundEngine(
            lambda seed: self._build(self.model_source, seed),
            lambda: self.data,
            Plan.of(self.exp),
            self.store,
            self.sink,
            stop=stop,
            callbacks_factory=callbacks_factory,
            build_reinit_model=lambda seed: self._build(self.reinit_source, seed),
            platform=self.platform,
        )

    @classmethod
    def open(cls, run_dir: str | Path, exp: C.Experiment | None = None, **kwargs) -> LotterySearch:
        """The search of an existing run directory (its config.toml decides)."""
        run_dir = Path(run_dir)
        exp = exp or rundir.read_experiment(run_dir)
        return cls(exp, run_dir=run_dir, **kwargs)

    # -- facts ------------------------------------------------------------------------
    @property
    def planned_rounds(self) -> int:
        """Pruning rounds after the dense round 0."""
        return self.exp.planned_rounds

    @property
    def data(self):
        if self._data is None:
            self._data = datasets.load(self.exp.data, self.data_dir, seed=self.exp.seed)
        return self._data

    def completed_rounds(self) -> list[int]:
        return self.store.completed_rounds()

    # -- the loop -----------------------------------------------------------------------
    def rounds(self) -> Iterator[RoundResult]:
        """Run (or resume) the rounds, yielding each as it completes."""
        # Every client (CLI, TUI, Python API) holds the run's lock while it trains;
        # it is reentrant, so the CLI's own earlier lock is no conflict.
        with self.store.lock():
            with self._peers_answer():
                sync_run_dir(self.run_dir, self.platform)  # multi_worker: every worker resumes from the chief's
            self._check_speed_settings()
            done = self.completed_rounds()
            self._emit(
                E.RunStarted(
                    run_dir=str(self.run_dir),
                    config_hash=self.exp.hash(),
                    preset=self.exp.trained_preset,
                    rounds=self.planned_rounds,
                    resumed_from=done[-1] if done else None,
                    model=self.exp.model.name,
                    dataset=self.exp.data.name,
                    config=self.exp.to_dict(),
                    runtime=self.platform.settings(),  # oneDNN, XLA, precision, threads, strategy
                    **self.model_facts(),
                    **self.data_facts(),
                )
            )
            self._write_summary("running")
            start = done[-1] + 1 if done else 0
            for r in range(start, self.planned_rounds + 1):
                try:
                    if r == 0 and self.dense_from is not None:
                        result = copy_round0(self.engine, self.dense_from)
                    else:
                        result = self.engine.run_round(r)
                except Stopped:
                    raise  # cooperative stop: not a failure, the run stays resumable
                except Exception as e:
                    self._record_failure(e, r)
                    lost = self.platform.lost_peer(e)
                    if lost is not None:  # one line on every survivor, not TensorFlow's traceback
                        raise lost from e
                    raise
                self._write_summary("running")
                yield result

    def _check_speed_settings(self) -> None:
        """Train only with the precision and XLA setting the run started with (a resume on
        another machine, or a platform made for other settings, would change what it computes);
        a run from before runtime.json gets the settings it resumes with recorded."""
        started = run_settings.recorded(self.run_dir) or {}
        for name, have in (("precision", self.platform.precision), ("jit_compile", self.platform.jit_compile)):
            if name in started and started[name].value != have:
                raise LthError(
                    f"{self.run_dir} started with train.{name} = {started[name].value} and this process has "
                    f"{have}; resume it with the settings it recorded (Platform.from_settings(train, "
                    "chosen=run_settings.for_run(exp, run_dir)), as `lth-tf run` does)"
                )
        self.store.record_runtime(self.platform.chosen.to_dict())

    def run(self, exporter: TicketExporter | None = None) -> dict[str, Any]:
        """All rounds, then controls and the ticket; returns the summary."""
        for _ in self.rounds():
            pass
        return self.finish(exporter)

    def _build(self, source: ModelSource, seed: int):
        """A plain model from `source` for this data, initialised from `seed`."""
        return source(*self._model_io(), seed).model

    @property
    def served_data(self) -> Any:
        """The data, or None for a run given its data from Python and opened without it.

        Such a run cannot load its data again (export, report from the CLI): its
        model file still knows the input shape and classes, and its exports go
        without mean/std (float inputs only; the export's marker JSON says so).
        """
        if self._data is None and self.exp.data.name == sources.PYTHON:
            return None
        return self.data

    def _model_io(self) -> tuple[tuple, int]:
        """(input shape, classes) the model must fit."""
        data = self.served_data
        if data is None:
            return models.file_model_io(self.exp.model.name)
        return tuple(data.input_shape), int(data.num_classes)

    def user_model(self):
        """The run's model as its source builds it with the run's seed: a `Built` (model, notes,
        and `keras3`, the user's Keras 3 model when it was translated from one)."""
        return self.model_source(*self._model_io(), self.exp.seed)

    def model_facts(self) -> dict[str, Any]:
        """What the run's events say about the model: what was changed, what stays dense."""
        built = self.user_model()
        facts = {
            "model_notes": list(built.notes),
            "unpruned_layers": [
                {"name": n, "class": c} for n, c in P.unpruned_layers(built.model, self.exp.prune.exclude)
            ],
        }
        if criteria.get(self.exp.prune.structure).channels:
            # pruned layers whose channels stay whole (residual ties, the logits): left dense
            facts["unpruned_channels"] = P.unpruned_channels(built.model, self.exp.prune.exclude)
        return facts

    @functools.cached_property
    def num_classes(self) -> int | None:
        """The classes of the data (the model's outputs); the chance level is 1/num_classes."""
        classes = self._model_io()[1]
        return int(classes) if classes else None

    def data_facts(self) -> dict[str, Any]:
        """What the run's events say about the data: classes, images per class and split,
        and a warning per class with few training images (also logged)."""
        sizes = split_sizes(self.served_data) if self.served_data is not None else None
        warnings = small_class_warnings(sizes) if sizes else []
        for line in warnings:
            log.warning("%s", line)
        return {"num_classes": self.num_classes, "split_sizes": sizes, "data_warnings": warnings}

    def model_for_round(self, r: int):
        """The wrapped model holding round r's stored weights and masks."""
        return self.engine.model_for_round(r)

    # -- controls and the ticket ------------------------------------------------------------
    def finish(self, exporter: TicketExporter | None = None, export: bool = True) -> dict[str, Any]:
        """Controls for the chosen rounds and the winning ticket, written by `exporter`.

        Without an exporter (or with `export=False`) the winner is recorded with
        path null; a ticket an earlier finish exported is kept while it is still there.
        """
        with self.store.lock(), self._peers_answer():  # controls train under the run's platform
            return self._finish(exporter, export and self.platform.writes_exports)  # only the chief exports

    @contextlib.contextmanager
    def _peers_answer(self) -> Iterator[None]:
        """A worker lost in a multi-worker run is one line (`Platform.lost_peer`), not a traceback."""
        try:
            yield
        except Exception as e:
            lost = self.platform.lost_peer(e)
            if lost is None:
                raise
            raise lost from e

    def _finish(self, exporter: TicketExporter | None, export: bool) -> dict[str, Any]:
        done = self.completed_rounds()
        if not done or done[-1] < self.planned_rounds:
            raise LthError(
                f"{self.run_dir} has rounds {done} of 0..{self.planned_rounds}; "
                "run the remaining rounds before finishing"
            )
        for r in self.exp.control_round_list():
            if r < 1 or r > self.planned_rounds:
                continue
            for kind in self.exp.prune.controls:
                if self.store.control_metrics(kind, r) is None:
                    self._check_speed_settings()  # controls train too
                    self.engine.run_control(kind, r)
                    self._write_summary("running")
        ticket = None
        decision = self.decision()
        winner = None if decision.round is None else self.store.round_metrics(decision.round)
        previous = self._previous_ticket()
        path = rundir.ticket_dir(self.run_dir)
        kept = None
        if (
            winner is not None
            and previous is not None
            and exporter is not None
            and [previous.get(k) for k in TICKET_KEYS] == [winner[k] for k in TICKET_KEYS]
        ):
            kept = exporter.existing(path)
        if kept is not None:
            # Finished before: the export is already there (finish is idempotent).
            ticket = previous if "gzip_bytes" in previous else {**previous, **kept}  # sizes: recorded later
        elif winner is not None and export and exporter is not None:
            ticket = {
                "round": winner["round"],
                "sparsity": winner["sparsity"],
                "test_acc": winner["test_acc"],
                **exporter.write(self, winner["round"], path),  # path, saved_model_bytes, gzip_bytes
            }
            self._emit(E.TicketExported.of(ticket))
        elif winner is not None:  # no export: record the winner, path null
            ticket = {k: winner[k] for k in TICKET_KEYS} | {"path": None}
        if ticket is not None:  # what the ticket cost: all rounds up to its own
            ticket = {**ticket, "cumulative_cost": cost_to_reach(self._round_metrics_list(), ticket["round"])}
        summary = self._write_summary("finished", ticket=ticket, decision=decision)
        self._emit(E.RunFinished(run_dir=str(self.run_dir), ticket=ticket,
                                 no_ticket=decision.reason if ticket is None else None))
        return summary

    def decision(self) -> W.Decision:
        """The winning ticket among the rounds stored so far, by the one rule (`lth_tf.core.winner`)."""
        return pick_winner(self._round_metrics_list(), self.exp.prune.tolerance, self.num_classes,
                           self.planned_rounds)

    def winner_round(self) -> int:
        """The winning ticket's round, or LthError saying why there is none."""
        decision = self.decision()
        if decision.round is None:
            raise LthError(f"{self.run_dir} has no winning ticket ({decision.reason}); "
                           "pass --round R to export a given round")
        return decision.round

    # -- summary and events ---------------------------------------------------------------
    def _round_metrics_list(self) -> list[dict[str, Any]]:
        return [self.store.round_metrics(r) for r in self.completed_rounds()]

    def _previous_ticket(self) -> dict[str, Any] | None:
        try:
            return (self.store.read_summary() or {}).get("ticket")
        except LthError:  # an unreadable summary is rewritten from the rounds
            return None

    def _write_summary(self, status: str, ticket: Any = _KEEP, decision: W.Decision | None = None
                       ) -> dict[str, Any]:
        """Rewrite summary.json; the ticket of an earlier finish is kept unless given.
        `winner` is the rule's decision on the rounds so far (`decision`, else made here)."""
        if ticket is _KEEP:
            ticket = self._previous_ticket()
        rounds = self._round_metrics_list()
        controls = self.store.all_controls()
        decision = decision or self.decision()
        summary = build_summary(self.exp.hash(), self.exp.trained_preset, status, rounds, controls, ticket,
                                winner=decision, num_classes=self.num_classes)
        self.store.write_summary(summary)
        return summary

    def _record_failure(self, error: Exception, r: int) -> None:
        """run_failed and a failed summary; if they cannot be written either (a full disk),
        the round's own error is still the one raised, and the run stays resumable."""
        try:
            self._emit(E.RunFailed(error=f"{type(error).__name__}: {error}", round=r))
            self._write_summary("failed")
        except (OSError, LthError) as e:
            log.warning("could not record the failure of round %d in %s: %s", r, self.run_dir, e)

    def _emit(self, record: E.Record) -> None:
        self.sink(record.to_dict())
