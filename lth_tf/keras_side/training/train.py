"""Training and evaluation of one round, for both data families.

`train_round` compiles the model (or the Distiller), trains it with the round's
callbacks (`lth_tf/keras_side/training/`: optimizer, feeds, metrics, callbacks, the
full-batch loop for graphs) and evaluates the kept weights on val and test.
Test data is only ever evaluated after training, never used for selection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.keras_side import pruning as P
from lth_tf.keras_side.training.callbacks import (
    EpochEvents,
    KeepBest,
    StopOnDivergence,
    StopOnEvent,
)
from lth_tf.keras_side.training.distill import distill_logs
from lth_tf.keras_side.training.feeds import Feeds
from lth_tf.keras_side.training.full_batch import fit_full_batch
from lth_tf.keras_side.training.metrics import compile_plain, evaluate
from lth_tf.keras_side.training.optimizer import make_optimizer
from lth_tf.platform import runtime
from lth_tf.platform.platform import Platform


@dataclass
class RoundTraining:
    """What one round's training produced (the model holds the kept weights)."""

    best_epoch: int
    epochs_run: int
    val_loss: float
    val_acc: float
    test_loss: float
    test_acc: float
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    distill: dict[str, float] | None = None
    steps: int = 0  # optimizer steps taken
    examples: int = 0  # training examples processed (graphs: nodes, every node every step)


def train_round(
    wrapped,
    feeds: Feeds,
    exp: C.Experiment,
    round_: int,
    *,
    constant_lr: float | None = None,
    teacher=None,
    sink: Callable | None = None,
    stop: threading.Event | None = None,
    extra_callbacks: list | None = None,
    tb_dir: Path | None = None,
    platform: Platform | None = None,
) -> RoundTraining:
    """Train `wrapped` for one round (masks held fixed) and evaluate it.

    With `teacher`, training goes through the Distiller (knowledge distillation).
    `platform` runs the full-batch steps and says the precision and XLA setting
    (default: one device, `Platform.single`); the model was built in its scope.
    """
    t, epochs = exp.train, exp.train.epochs
    platform = platform or Platform.single(t)
    jit = platform.jit_compile
    check_precision(wrapped, platform.precision)
    total_steps = epochs * feeds.steps_per_epoch
    optimizer = make_optimizer(t, total_steps, constant_lr)
    if teacher is not None:
        from lth_tf.keras_side.training.distill import Distiller

        trainer = Distiller(
            student=wrapped,
            teacher=teacher,
            alpha=exp.distill.alpha,
            temperature=exp.distill.temperature,
            soft_on_all=exp.distill.all_nodes,
        )
        trainer.compile(optimizer=optimizer, jit_compile=jit)
    else:
        trainer = wrapped
        compile_plain(wrapped, optimizer, jit)

    keep = KeepBest(t.select_best, t.patience)
    events = EpochEvents(sink, round_, epochs, tb_dir)
    lr = constant_lr if constant_lr is not None else t.learning_rate
    key = "train.finetune_lr" if constant_lr is not None else "train.learning_rate"
    diverged = StopOnDivergence(round_, epochs, f"lower {key} (now {lr:g})")
    # the divergence check after the user's callbacks (they may change the weights), before
    # the events, so a diverged epoch is not reported as a finished one
    callbacks = [*P.callbacks(), *(extra_callbacks or []), diverged, events]
    if stop is not None:
        callbacks.append(StopOnEvent(stop))
    callbacks.append(keep)  # last: restores the best weights after the others ran

    t0 = time.time()
    if feeds.is_graph:
        fit_full_batch(trainer, feeds.train, feeds.val, epochs, callbacks, platform, jit)
    else:
        trainer.fit(
            feeds.train,
            epochs=epochs,
            validation_data=feeds.val,
            callbacks=callbacks,
            verbose=0,
        )
    # KeepBest restored the best weights into the trainer; masks are re-applied so
    # pruned weights are exactly 0.0 whatever the last optimizer step did.
    P.apply_masks(wrapped)
    seconds = time.time() - t0

    compile_plain(wrapped, make_optimizer(t, 1), jit)
    val_loss, val_acc = evaluate(wrapped, feeds.val, platform)
    test_loss, test_acc = evaluate(wrapped, feeds.test, platform)
    distill = None
    if teacher is not None:
        best = keep.best_logs or (events.history[-1] if events.history else {})
        distill = distill_logs(best)
    return RoundTraining(
        best_epoch=keep.best_epoch,
        epochs_run=len(events.history),
        val_loss=val_loss,
        val_acc=val_acc,
        test_loss=test_loss,
        test_acc=test_acc,
        seconds=seconds,
        history=events.history,
        distill=distill,
        steps=len(events.history) * feeds.steps_per_epoch,
        examples=len(events.history) * feeds.examples_per_epoch,
    )


def check_precision(model, precision: str) -> None:
    """Refuse to train a model built in another precision than the config asks for.

    The precision is fixed when a model is built (Keras global policy), so a
    model built before `runtime.apply_precision` would silently train in float32.
    """
    want = runtime.compute_dtype(precision)
    if model.compute_dtype != want:
        raise LthError(
            f"train.precision is {precision} but the model computes in {model.compute_dtype} "
            f"(a file: model keeps its stored dtype); use train.precision=float32 or rebuild the model"
        )
