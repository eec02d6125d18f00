"""The round engine: one IMP round or control at a time, with no registries.

    engine = RoundEngine(build_model, load_data, plan, store, sink, platform=platform)
    result = engine.run_round(r)          # r = 0 is the dense network
    metrics = engine.run_control("random_reinit", r)

It takes what a round needs and nothing else: a model factory `(seed) ->
keras.Model` (plain, unwrapped, outputs logits), the data (anything with
`kind`, `input_shape` and the train/eval dataset methods `training.feeds.Feeds` reads:
`ImageData`, `GraphData` or `lth_tf.keras_side.data.user.UserData`), the training plan
(`Plan`: train, prune and distill settings plus the seed), a `RunStore`, an
event sink and the process's `Platform` (the strategy rounds train under). Which model and data set a config names, run-directory claiming,
summaries and the winning ticket are the callers' business (`lottery.py`, the
Python API).

Every round starts from a fresh Keras session: the model is rebuilt from the
seed, its weights loaded from the stored checkpoints, and all random seeds reset
from (seed, round). A round therefore computes the same thing whether the
process ran the rounds before it or resumed from their checkpoints, which is
what makes a killed run finish with the same masks as an uninterrupted one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lth_tf.core import config as C
from lth_tf.core import controls
from lth_tf.core import events as E
from lth_tf.core import masks as M
from lth_tf.core.errors import LthError
from lth_tf.keras_side import flops
from lth_tf.keras_side import pruning as P
from lth_tf.keras_side.training.feeds import Feeds
from lth_tf.keras_side.training.train import train_round
from lth_tf.platform import runtime
from lth_tf.platform.backend import keras, tf
from lth_tf.platform.platform import Platform
from lth_tf.search import prune_step as step
from lth_tf.search import round_metrics
from lth_tf.search.plan import Plan
from lth_tf.storage import rundir
from lth_tf.storage import store as S

log = logging.getLogger(__name__)

# Keeps the random streams of rounds apart (each control has its own seed_offset).
ROUND_SEED = 1_000


def derived_seed(seed: int) -> int:
    """A seed computed from the run's (seed * ROUND_SEED + r, seed + offset) in numpy's range.

    The run's seed is at most C.SEED_MAX; what is derived from it may exceed it, and
    `keras.utils.set_random_seed` (numpy's legacy seeding) refuses more. Below the
    limit (every seed in use before the limit existed) nothing changes; above it the
    value is hashed (numpy's SeedSequence), not wrapped: modulo 2**32, seeds s and
    s + 2**29 would share every per-round seed (2**29 * ROUND_SEED is a multiple of 2**32).
    """
    if 0 <= seed <= C.SEED_MAX:
        return seed
    return int(np.random.SeedSequence(seed).generate_state(1)[0])

ModelFactory = Callable[[int], Any]  # seed -> plain keras.Model (logits)


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

    @classmethod
    def of(cls, metrics: dict[str, Any]) -> RoundResult:
        """The result of a round from its stored metrics (`round_metrics`)."""
        return cls(
            round=metrics["round"],
            sparsity=metrics["sparsity"],
            val_acc=metrics["val_acc"],
            test_acc=metrics["test_acc"],
            layer_sparsity=metrics["layer_sparsity"],
            seconds=metrics["seconds"],
            best_epoch=metrics["best_epoch"],
            distill=metrics.get("distill"),
        )


@dataclass(frozen=True)
class _Schedule:
    """What a pruned round's training uses besides the model: shared by its controls."""

    constant_lr: float | None
    teacher: Any


class RoundEngine:
    """Trains the rounds and controls of one search into its store."""

    def __init__(
        self,
        build_model: ModelFactory,
        load_data: Callable[[], Any],
        plan: Plan,
        store: S.RunStore,
        sink: Callable[[dict], None],
        stop: threading.Event | None = None,
        callbacks_factory: Callable[[int, str], list] | None = None,
        build_reinit_model: ModelFactory | None = None,
        platform: Platform | None = None,
    ):
        """`build_reinit_model(seed)` gives the random-reinit control's fresh weights
        (default `build_model`; a model whose theta0 is fixed, e.g. loaded from a
        file, must re-initialise here or the control would equal the ticket).
        `callbacks_factory(round, kind)`, if given, returns extra Keras callbacks
        for one training: kind "round" for IMP round `round`, or the control kind
        ("random_reinit", "random_mask") for a control of that round. They run after
        tfmot's callbacks (so kernels are masked at `on_train_begin`) and see the
        trainer as `self.model`: a Distiller with KD, whose `.student` is the
        wrapped model. For tests and instrumentation. `platform`: where rounds
        train (default: one device, `Platform.single`).
        """
        self.build_model = build_model
        self.build_reinit_model = build_reinit_model or build_model
        self.load_data = load_data
        self.plan = plan
        self.store = store
        self.sink = sink
        self.stop = stop
        self.callbacks_factory = callbacks_factory
        self.platform = platform or Platform.single(plan.train)
        self.rewind = plan.rewind
        if plan.train.deterministic:
            tf.config.experimental.enable_op_determinism()
        # Models built from here on use the run's precision (masks stay float32).
        runtime.apply_precision(self.platform.precision)

    # -- one round ---------------------------------------------------------------------
    def run_round(self, r: int) -> RoundResult:
        """Train round r from the stored round r-1 (or the dense net for r = 0) and store it."""
        plan = self.plan
        self._emit(E.RoundStarted(round=r, target_sparsity=plan.target_sparsity(r), epochs=plan.train.epochs))
        wrapped = self.fresh_model(plan.seed)
        extra: list = []
        rewind_cb = None
        if r == 0:
            P.set_masks(wrapped, M.ones_like(P.get_kernels(wrapped)))
            if self.rewind.uses_snapshot:
                rewind_cb = P.RewindCallback(self.rewind.snapshot_step)
                extra.append(rewind_cb)
        else:
            prev_weights, prev_masks, _ = self.store.load_round(r - 1)
            dense = self.store.load_round(0)[0] if plan.prune.one_shot else None
            new_masks = step.next_masks(plan, wrapped, r, prev_weights, prev_masks, dense)
            wrapped.set_weights(self._start_weights(r))
            P.set_masks(wrapped, new_masks)
        early_bird = step.early_bird_stop(plan, wrapped, r)
        if early_bird is not None:
            extra.append(early_bird)
        training, feeds = self._train(wrapped, r, "round", plan.seed * ROUND_SEED + r, extra)
        if rewind_cb is not None:
            if not rewind_cb.reached:
                log.warning(
                    "rewind step %d is beyond round 0's %d steps; rewinding to its end",
                    self.rewind.snapshot_step,
                    training.epochs_run * feeds.steps_per_epoch,
                )
            # Saved before round 0's folder: that folder is the completion marker.
            self.store.save_rewind(rewind_cb.snapshot)

        masks_now = P.get_masks(wrapped)
        metrics = round_metrics.trained(
            r, wrapped, masks_now, training, feeds.data, plan, self.platform, early_bird
        )
        return self.store_round(r, wrapped.get_weights(), masks_now, metrics)

    def store_round(
        self, r: int, weights: list[np.ndarray], masks: M.Masks, metrics: dict[str, Any]
    ) -> RoundResult:
        """Save round r (trained, or copied by dense_copy) and emit its round_finished."""
        self.store.save_round(r, weights, masks, metrics)
        self._emit(E.RoundFinished.of({k: v for k, v in metrics.items() if k != "history"}))
        return RoundResult.of(metrics)

    def _train(self, wrapped, r: int, kind: str, seed: int, extra: list) -> tuple[Any, Feeds]:
        """Train one round (kind "round") or control of round r with round r's schedule.

        Only rounds emit epoch events and TensorBoard scalars; controls report once.
        """
        schedule = self._schedule(r)
        if self.callbacks_factory is not None:
            extra = [*extra, *self.callbacks_factory(r, kind)]
        seed = derived_seed(seed)
        keras.utils.set_random_seed(seed)
        feeds = Feeds(self.load_data(), self.plan.train.batch_size, seed)
        is_round = kind == "round"
        training = train_round(
            wrapped,
            feeds,
            self.plan,
            r,
            constant_lr=schedule.constant_lr,
            teacher=schedule.teacher,
            sink=self.sink if is_round else None,
            stop=self.stop,
            extra_callbacks=extra,
            tb_dir=rundir.tensorboard_dir(self.store.run_dir, r) if is_round else None,
            platform=self.platform,
        )
        return training, feeds

    def _start_weights(self, r: int) -> list[np.ndarray]:
        """The weights a pruned round (and its random-mask control) starts from."""
        if self.rewind.uses_snapshot:
            return self.store.load_rewind()
        return self.store.load_round(r - 1)[0]  # e.g. lr / finetune: keep the trained weights

    def _schedule(self, r: int) -> _Schedule:
        """Learning-rate override and KD teacher of round r, used by its controls too."""
        if r == 0:
            return _Schedule(None, None)
        plan = self.plan
        constant_lr = self.rewind.constant_lr(plan.train)
        teacher = None
        if plan.distill.enabled and r >= plan.distill.from_round:
            teacher = self._teacher()
        return _Schedule(constant_lr, teacher)

    # -- models ------------------------------------------------------------------------
    def fresh_model(self, seed: int, build: ModelFactory | None = None):
        """A new Keras session and a wrapped model from `build` (default build_model)."""
        keras.backend.clear_session()
        self.platform.enter_scope()  # models, masks, optimizer and Distiller live in it
        seed = derived_seed(seed)
        keras.utils.set_random_seed(seed)
        return P.wrap((build or self.build_model)(seed), exclude=self.plan.prune.exclude)

    def _teacher(self):
        """The dense network of round 0, stripped of wrappers and frozen."""
        holder = P.wrap(self.build_model(self.plan.seed), exclude=self.plan.prune.exclude)
        holder.set_weights(self.store.load_round(0)[0])
        teacher = P.strip(holder)
        teacher.trainable = False
        return teacher

    def model_for_round(self, r: int):
        """The wrapped model holding round r's stored weights and masks."""
        done = self.store.completed_rounds()
        if r not in done:
            raise LthError(f"round {r} is not stored in {self.store.run_dir}; completed rounds: {done}")
        wrapped = self.fresh_model(self.plan.seed)
        wrapped.set_weights(self.store.load_round(r)[0])
        return wrapped

    # -- controls ----------------------------------------------------------------------
    def run_control(self, kind: str, r: int) -> dict[str, Any]:
        """Train one control of pruned round r with round r's own plan, and store it.

        What the control changes is its registry entry (lth_tf/core/controls/):
        its weights (round r's start, or a fresh initialisation built by
        `build_reinit_model`) and its mask (round r's, or the criterion's random
        masks with round r's counts per layer). It uses round r's learning-rate
        rule and KD teacher, so the comparison with the ticket differs only there.
        """
        plan = self.plan
        control = controls.get(kind)
        _, masks_r, _ = self.store.load_round(r)
        if control.weights == controls.REINIT:
            wrapped = self.fresh_model(plan.seed + control.seed_offset, self.build_reinit_model)
        else:  # ROUND_START
            wrapped = self.fresh_model(plan.seed)
            wrapped.set_weights(self._start_weights(r))
        if control.mask == controls.RANDOM_MASK:
            rng = np.random.default_rng(plan.seed * control.seed_offset + r)
            ctrl_masks = step.control_masks(plan, wrapped, r, masks_r, rng)
        else:  # ROUND_MASK
            ctrl_masks = masks_r
        P.set_masks(wrapped, ctrl_masks)
        seed = plan.seed * ROUND_SEED + r + control.seed_offset
        training, feeds = self._train(wrapped, r, kind, seed, [])
        metrics = {
            "kind": kind,
            "round": r,
            "sparsity": M.sparsity(P.get_masks(wrapped)),
            "val_acc": training.val_acc,
            "test_acc": training.test_acc,
            "seconds": training.seconds,
            "cost": flops.training_cost(wrapped, training, feeds.data),
        }
        self.store.save_control(kind, r, metrics)
        self._emit(E.ControlFinished.of(metrics))
        return metrics

    def _emit(self, record: E.Record) -> None:
        self.sink(record.to_dict())
