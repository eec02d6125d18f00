"""The lottery-ticket search: iterative magnitude pruning with rewinding.

    search = LotterySearch(exp, out="checkpoints")
    for result in search.rounds():      # round 0 = dense, then one per pruning round
        ...
    summary = search.finish()           # controls, winning ticket, export

Every round starts from a fresh Keras session: the model is rebuilt from the
seed, its weights loaded from the stored checkpoints, and all random seeds
reset from (seed, round). A round therefore computes the same thing whether
the process ran the rounds before it or resumed from their checkpoints, which
is what makes a killed run finish with the same masks as an uninterrupted one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lth_tf import config as C
from lth_tf import data as datasets
from lth_tf import models, store
from lth_tf._keras import keras, tf
from lth_tf.errors import LthError
from lth_tf.events import FanOut, JsonlSink, make_event
from lth_tf.pruning import masks as M
from lth_tf.pruning import wrap
from lth_tf.pruning.rewind import RewindCallback, RewindMode
from lth_tf.train import Feeds, RoundTraining, Stopped, train_round

__all__ = ["LotterySearch", "RoundResult", "Stopped", "pick_winner"]

log = logging.getLogger(__name__)

# Offsets that keep the random streams of rounds and controls apart.
_ROUND_SEED = 1_000
_REINIT_SEED = 7_919
_MASK_SEED = 104_729
_KEEP = object()  # _write_summary: keep the ticket recorded by an earlier finish


@dataclass(frozen=True)
class RoundResult:
    round: int
    sparsity: float
    val_acc: float
    test_acc: float
    layer_sparsity: dict[str, float]
    seconds: float
    best_epoch: int
    distill: dict[str, float] | None = None


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
    ):
        """`callbacks_factory(round, kind)`, if given, returns extra Keras callbacks
        for one training: kind "round" for IMP round `round`, or the control kind
        ("random_reinit", "random_mask") for a control of that round. They run after
        tfmot's callbacks (so kernels are masked at `on_train_begin`) and see the
        trainer as `self.model`: a Distiller with KD, whose `.student` is the
        wrapped model. For tests and instrumentation.
        """
        self.exp = C.validate(exp)
        self.run_dir = Path(run_dir) if run_dir else Path(out) / exp.run_name()
        self.store = store.RunStore(self.run_dir)
        self.resumed = self.store.claim(exp.to_toml(), exp.hash())
        self.sink = FanOut(JsonlSink(store.events_path(self.run_dir)), sink)
        self.stop = stop
        self.data_dir = data_dir
        self.callbacks_factory = callbacks_factory
        self.rewind = RewindMode.parse(exp.prune.rewind)
        self._data: Any = data  # an already loaded data set (the CLI loads it before claiming)
        if exp.train.deterministic:
            tf.config.experimental.enable_op_determinism()

    @classmethod
    def open(cls, run_dir: str | Path, exp: C.Experiment | None = None, **kwargs) -> LotterySearch:
        """The search of an existing run directory (its config.toml decides)."""
        run_dir = Path(run_dir)
        exp = exp or C.resolve(config_file=C.find_run_config(run_dir))
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
        done = self.completed_rounds()
        self._emit(
            "run_started",
            run_dir=str(self.run_dir),
            config_hash=self.exp.hash(),
            preset=self.exp.preset,
            rounds=self.planned_rounds,
            resumed_from=done[-1] if done else None,
            model=self.exp.model.name,
            dataset=self.exp.data.name,
            config=self.exp.to_dict(),
        )
        self._write_summary("running")
        start = done[-1] + 1 if done else 0
        for r in range(start, self.planned_rounds + 1):
            try:
                result = self._run_round(r)
            except Stopped:
                raise  # cooperative stop: not a failure, the run stays resumable
            except Exception as e:
                self._emit("run_failed", error=f"{type(e).__name__}: {e}", round=r)
                self._write_summary("failed")
                raise
            self._write_summary("running")
            yield result

    def run(self) -> dict[str, Any]:
        """All rounds, then controls and the ticket; returns the summary."""
        for _ in self.rounds():
            pass
        return self.finish()

    def _run_round(self, r: int) -> RoundResult:
        exp = self.exp
        target = M.expected_sparsity(exp.prune.rate, r if not exp.prune.one_shot else exp.prune.rounds)
        self._emit("round_started", round=r, target_sparsity=target if r else 0.0, epochs=exp.train.epochs)
        wrapped = self._fresh_model(exp.seed)
        extra: list = []
        constant_lr = None
        teacher = None
        if r == 0:
            new_masks = M.ones_like(wrap.get_kernels(wrapped))
            wrap.set_masks(wrapped, new_masks)
            if self.rewind.uses_snapshot:
                rewind_cb = RewindCallback(self.rewind.step)
                extra.append(rewind_cb)
        else:
            prev_weights, prev_masks, _ = self.store.load_round(r - 1)
            new_masks = self._next_masks(wrapped, r, prev_weights, prev_masks)
            if self.rewind.uses_snapshot:
                wrapped.set_weights(self.store.load_rewind())
            else:  # lr / finetune: keep the trained weights, restart training
                wrapped.set_weights(prev_weights)
            wrap.set_masks(wrapped, new_masks)
            if self.rewind.kind == "finetune":
                constant_lr = exp.train.finetune_lr or exp.train.learning_rate / 10
            if exp.distill.enabled and r >= exp.distill.from_round:
                teacher = self._teacher()

        if self.callbacks_factory is not None:
            extra += self.callbacks_factory(r, "round")
        self._seed_everything(exp.seed * _ROUND_SEED + r)
        feeds = Feeds(self.data, exp.train.batch_size, exp.seed * _ROUND_SEED + r)
        training = train_round(
            wrapped,
            feeds,
            exp,
            r,
            constant_lr=constant_lr,
            teacher=teacher,
            sink=self.sink,
            stop=self.stop,
            extra_callbacks=extra,
            tb_dir=store.tensorboard_dir(self.run_dir) / f"round_{r:03d}",
        )
        if r == 0 and self.rewind.uses_snapshot:
            if not rewind_cb.reached:
                log.warning(
                    "rewind step %d is beyond round 0's %d steps; rewinding to its end",
                    self.rewind.step,
                    training.epochs_run * feeds.steps_per_epoch,
                )
            # Saved before round 0's folder: that folder is the completion marker.
            self.store.save_rewind(rewind_cb.snapshot)

        masks_now = wrap.get_masks(wrapped)
        result = RoundResult(
            round=r,
            sparsity=M.sparsity(masks_now),
            val_acc=training.val_acc,
            test_acc=training.test_acc,
            layer_sparsity=M.layer_sparsity(masks_now),
            seconds=training.seconds,
            best_epoch=training.best_epoch,
            distill=training.distill,
        )
        metrics = _round_metrics(result, training)
        self.store.save_round(r, wrapped.get_weights(), masks_now, metrics)
        self._emit("round_finished", **{k: v for k, v in metrics.items() if k != "history"})
        return result

    def _next_masks(self, wrapped, r: int, prev_weights, prev_masks) -> dict[str, np.ndarray]:
        """Masks for round r from the previous round's trained weights."""
        p = self.exp.prune
        if p.one_shot:
            wrapped.set_weights(self.store.load_round(0)[0])
            kernels = wrap.get_kernels(wrapped)
            target = M.expected_sparsity(p.rate, p.rounds)
            # layer_rates are per-round rates; one-shot wants each layer's final sparsity.
            layer_targets = {n: M.expected_sparsity(x, p.rounds) for n, x in p.layer_rates.items()}
            return M.prune_to_sparsity(
                kernels, M.ones_like(kernels), target, p.scope, layer_targets or None, p.exclude
            )
        wrapped.set_weights(prev_weights)
        kernels = wrap.get_kernels(wrapped)
        return M.prune(kernels, prev_masks, p.rate, p.scope, p.layer_rates or None, p.exclude)

    # -- models ----------------------------------------------------------------------------
    def _fresh_model(self, seed: int):
        """A new session and a wrapped model initialised from `seed`."""
        keras.backend.clear_session()
        self._seed_everything(seed)
        base = models.build(self.exp.model, self.data.input_shape, self.data.num_classes, seed)
        return wrap.wrap(base, exclude=self.exp.prune.exclude)

    def _teacher(self):
        """The dense network of round 0, stripped of wrappers and frozen."""
        holder = wrap.wrap(
            models.build(self.exp.model, self.data.input_shape, self.data.num_classes, self.exp.seed),
            exclude=self.exp.prune.exclude,
        )
        holder.set_weights(self.store.load_round(0)[0])
        teacher = wrap.strip(holder)
        teacher.trainable = False
        return teacher

    @staticmethod
    def _seed_everything(seed: int) -> None:
        keras.utils.set_random_seed(seed)

    def model_for_round(self, r: int):
        """The wrapped model holding round r's stored weights and masks."""
        if r not in self.completed_rounds():
            raise LthError(
                f"round {r} is not stored in {self.run_dir}; completed rounds: "
                f"{self.completed_rounds()}"
            )
        wrapped = self._fresh_model(self.exp.seed)
        wrapped.set_weights(self.store.load_round(r)[0])
        return wrapped

    # -- controls, ticket, export -----------------------------------------------------------
    def finish(self, export: bool = True) -> dict[str, Any]:
        """Controls for the chosen rounds, the winning ticket and its export."""
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
                    self._run_control(kind, r)
                    self._write_summary("running")
        from lth_tf.export import is_savedmodel, sizes

        ticket = None
        winner = pick_winner(self._round_metrics_list(), self.exp.prune.tolerance)
        previous = self._previous_ticket()
        if (
            winner is not None
            and previous is not None
            and [previous.get(k) for k in ("round", "sparsity", "test_acc")]
            == [winner[k] for k in ("round", "sparsity", "test_acc")]
            and is_savedmodel(store.ticket_dir(self.run_dir))
        ):
            # Finished before: the export is already there (finish is idempotent).
            ticket = previous
            if "gzip_bytes" not in ticket:  # recorded before sizes were
                ticket = {**ticket, **sizes(store.ticket_dir(self.run_dir))}
        elif winner is not None and export:
            path = self.export(winner["round"], store.ticket_dir(self.run_dir))
            ticket = {
                "round": winner["round"],
                "sparsity": winner["sparsity"],
                "test_acc": winner["test_acc"],
                "path": str(path),
                **sizes(path),  # saved_model_bytes, gzip_bytes
            }
            self._emit("ticket_exported", **ticket)
        elif winner is not None:  # export=False: record the winner, path null
            ticket = {k: winner[k] for k in ("round", "sparsity", "test_acc")} | {"path": None}
        summary = self._write_summary("finished", ticket=ticket)
        self._emit("run_finished", run_dir=str(self.run_dir), ticket=ticket)
        return summary

    def _run_control(self, kind: str, r: int) -> None:
        exp = self.exp
        _, masks_r, _ = self.store.load_round(r)
        if kind == "random_reinit":
            # The ticket's mask on a fresh initialisation.
            wrapped = self._fresh_model(exp.seed + _REINIT_SEED)
            ctrl_masks = masks_r
        else:
            # Same start as the ticket, same count per layer, random positions.
            wrapped = self._fresh_model(exp.seed)
            if self.rewind.uses_snapshot:
                wrapped.set_weights(self.store.load_rewind())
            else:
                wrapped.set_weights(self.store.load_round(r - 1)[0])
            rng = np.random.default_rng(exp.seed * _MASK_SEED + r)
            ctrl_masks = M.random_masks(masks_r, rng, exclude=exp.prune.exclude)
        wrap.set_masks(wrapped, ctrl_masks)
        seed = exp.seed * _ROUND_SEED + r + (_REINIT_SEED if kind == "random_reinit" else _MASK_SEED)
        self._seed_everything(seed)
        feeds = Feeds(self.data, exp.train.batch_size, seed)
        t0 = time.time()
        extra = self.callbacks_factory(r, kind) if self.callbacks_factory is not None else []
        training = train_round(
            wrapped, feeds, exp, r, sink=None, stop=self.stop, extra_callbacks=extra
        )
        metrics = {
            "kind": kind,
            "round": r,
            "sparsity": M.sparsity(wrap.get_masks(wrapped)),
            "val_acc": training.val_acc,
            "test_acc": training.test_acc,
            "seconds": time.time() - t0,
        }
        self.store.save_control(kind, r, metrics)
        self._emit("control_finished", **metrics)

    def export(self, round: int | None = None, out: str | Path | None = None) -> Path:
        """Write a SavedModel of a round's ticket (default: the winner)."""
        from lth_tf.export import export_savedmodel

        if round is None:
            winner = pick_winner(self._round_metrics_list(), self.exp.prune.tolerance)
            if winner is None:
                raise LthError(
                    f"no pruned round of {self.run_dir} matched dense validation accuracy; "
                    "pass --round R to export a given round"
                )
            round = winner["round"]
        path = Path(out) if out else store.ticket_dir(self.run_dir)
        export_savedmodel(wrap.strip(self.model_for_round(round)), path)
        return path

    # -- summary and events ---------------------------------------------------------------
    def _round_metrics_list(self) -> list[dict[str, Any]]:
        return [self.store.round_metrics(r) for r in self.completed_rounds()]

    def _previous_ticket(self) -> dict[str, Any] | None:
        try:
            return (self.store.read_summary() or {}).get("ticket")
        except LthError:  # an unreadable summary is rewritten from the rounds
            return None

    def _write_summary(self, status: str, ticket: Any = _KEEP) -> dict[str, Any]:
        """Rewrite summary.json; the ticket of an earlier finish is kept unless given."""
        if ticket is _KEEP:
            ticket = self._previous_ticket()
        rounds = self._round_metrics_list()
        summary = build_summary(self.exp, status, rounds, self.store.all_controls(), ticket)
        self.store.write_summary(summary)
        return summary

    def _emit(self, event_name: str, /, **fields: Any) -> None:
        self.sink(make_event(event_name, **fields))


def _round_metrics(result: RoundResult, training: RoundTraining) -> dict[str, Any]:
    return {
        "round": result.round,
        "sparsity": result.sparsity,
        "val_acc": result.val_acc,
        "test_acc": result.test_acc,
        "val_loss": training.val_loss,
        "test_loss": training.test_loss,
        "layer_sparsity": result.layer_sparsity,
        "seconds": result.seconds,
        "best_epoch": result.best_epoch,
        "epochs_run": training.epochs_run,
        "distill": result.distill,
        "history": training.history,
    }


def pick_winner(rounds: list[dict[str, Any]], tolerance: float) -> dict[str, Any] | None:
    """The sparsest pruned round whose val_acc is within `tolerance` of dense."""
    if not rounds or rounds[0]["round"] != 0:
        return None
    dense = rounds[0]["val_acc"]
    matching = [m for m in rounds[1:] if m["val_acc"] >= dense - tolerance - 1e-12]
    if not matching:
        return None
    return max(matching, key=lambda m: (m["sparsity"], m["val_acc"]))


def build_summary(
    exp: C.Experiment,
    status: str,
    rounds: list[dict[str, Any]],
    controls: list[dict[str, Any]],
    ticket: dict[str, Any] | None,
) -> dict[str, Any]:
    dense = rounds[0] if rounds and rounds[0]["round"] == 0 else None
    keys = ("round", "sparsity", "val_acc", "test_acc", "layer_sparsity", "seconds", "distill")
    return {
        "config_hash": exp.hash(),
        "preset": exp.preset,
        "status": status,
        "dense": {"val_acc": dense["val_acc"], "test_acc": dense["test_acc"]} if dense else None,
        "rounds": [{k: m.get(k) for k in keys} for m in rounds],
        "controls": [
            {k: c[k] for k in ("kind", "round", "sparsity", "val_acc", "test_acc")} for c in controls
        ],
        "ticket": ticket,
    }
