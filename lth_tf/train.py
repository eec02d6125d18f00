"""Training and evaluation of one round, for both data families.

Images train with `fit` over tf.data. The GCN trains full batch on the single
graph: one step per epoch, node masks as sample weights scaled by N / mask.sum()
(Spektral's mask_to_weights) so the weighted mean is the mean over the masked
nodes and the L2 term keeps Kipf's relative scale.

Model selection: with `train.select_best`, the weights of the epoch with the best
validation accuracy (ties: lower validation loss) are kept; test data is only
ever evaluated after training, never used for selection.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lth_tf import config as C
from lth_tf import distribute, runtime
from lth_tf import events as E
from lth_tf._keras import keras, tf
from lth_tf.distill import distill_logs
from lth_tf.errors import LthError
from lth_tf.pruning import wrap


class Stopped(Exception):
    """Raised inside training when the caller's stop event is set."""


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


# -- optimizer ----------------------------------------------------------------------------
def make_optimizer(t: C.Train, total_steps: int, constant_lr: float | None = None):
    """A fresh optimizer; its schedule spans this round's `total_steps`."""
    lr: Any
    if constant_lr is not None or t.schedule == "constant":
        lr = constant_lr if constant_lr is not None else t.learning_rate
    elif t.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(t.learning_rate, max(1, total_steps))
    else:  # step: x0.1 at 50% and at 75% of training
        b = [max(1, int(total_steps * 0.5)), max(2, int(total_steps * 0.75))]
        lr = keras.optimizers.schedules.PiecewiseConstantDecay(
            b, [t.learning_rate, t.learning_rate * 0.1, t.learning_rate * 0.01]
        )
    if t.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=t.momentum)
    return keras.optimizers.Adam(learning_rate=lr)


# -- data plumbing --------------------------------------------------------------------------
def node_weights(mask: np.ndarray) -> np.ndarray:
    """Sample weights over all nodes whose weighted mean is the mean over `mask`."""
    mask = mask.astype(np.float32)
    return mask * (mask.size / max(1.0, float(mask.sum())))


class Feeds:
    """The train/val/test inputs of one data set, in the form `fit` takes."""

    def __init__(self, data: Any, batch_size: int, seed: int):
        self.data = data
        self.is_graph = data.kind == "graph"
        if self.is_graph:
            # Full batch: each split is one ((x, a), y, weights) tuple of tensors.
            x, a = data.inputs()
            y = tf.constant(data.y)

            def split(mask: np.ndarray):
                return ((x, a), y, tf.constant(node_weights(mask)))

            self.train = split(data.train_mask)
            self.val = split(data.val_mask)
            self.test = split(data.test_mask)
            self.steps_per_epoch = 1
            # The forward and backward pass run over every node, not only the labelled ones.
            self.examples_per_epoch = int(data.y.shape[0])
        else:
            self.train = data.train_dataset(batch_size, seed)
            self.val = data.eval_dataset("val", batch_size)
            self.test = data.eval_dataset("test", batch_size)
            self.steps_per_epoch = data.steps_per_epoch(batch_size)
            self.examples_per_epoch = _train_size(data) or self.steps_per_epoch * batch_size


def _train_size(data: Any) -> int | None:
    """Training examples in one pass over `data` if it knows them (arrays), else None."""
    if hasattr(data, "x_train"):
        return len(data.x_train)
    train = getattr(data, "train", None)
    if isinstance(train, tuple) and train:
        return len(train[0])
    return None  # a batched tf.data.Dataset: steps x batch size (the last batch may be smaller)


# -- callbacks ------------------------------------------------------------------------------
class KeepBest(keras.callbacks.Callback):
    """Remembers the best validation epoch's weights and restores them at the end."""

    def __init__(self, select_best: bool, patience: int):
        super().__init__()
        self.select_best = select_best
        self.patience = patience
        self.best: tuple[float, float] | None = None
        self.best_epoch = 0
        self.best_weights: list[np.ndarray] | None = None
        self.best_logs: dict[str, float] = {}

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        key = (float(logs.get("val_acc", 0.0)), -float(logs.get("val_loss", 0.0)))
        if self.best is None or key > self.best:
            self.best, self.best_epoch, self.best_logs = key, epoch + 1, dict(logs)
            if self.select_best:
                self.best_weights = self.model.get_weights()
        elif self.patience and epoch + 1 - self.best_epoch >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.select_best and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class EpochEvents(keras.callbacks.Callback):
    """Emits `epoch_end` events and TensorBoard scalars."""

    def __init__(self, sink: Callable | None, round_: int, epochs: int, tb_dir: Path | None):
        super().__init__()
        self.sink, self.round, self.epochs = sink, round_, epochs
        self.writer = tf.summary.create_file_writer(str(tb_dir)) if tb_dir else None
        self.history: list[dict[str, float]] = []
        self._t0 = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self.history.append(logs)
        if self.sink is not None:
            seconds = time.time() - self._t0
            self.sink(
                E.EpochEnd(
                    round=self.round, epoch=epoch + 1, epochs=self.epochs, seconds=seconds, extra=logs
                ).to_dict()
            )

    def on_train_end(self, logs=None):
        # Scalars are written once per round from the history: per-epoch writes
        # cost ~4 ms each, as much as a GCN training step.
        if self.writer is not None:
            with self.writer.as_default():
                for epoch, epoch_logs in enumerate(self.history, start=1):
                    for k, v in epoch_logs.items():
                        tf.summary.scalar(k, v, step=epoch)
            self.writer.flush()
            self.writer.close()


class StopOnEvent(keras.callbacks.Callback):
    """Cooperative cancellation: raises Stopped once `stop` is set."""

    def __init__(self, stop: threading.Event):
        super().__init__()
        self.stop = stop

    def on_train_batch_end(self, batch, logs=None):
        if self.stop.is_set():
            raise Stopped()


# -- one round ------------------------------------------------------------------------------
def float32_sparse_ce(y_true, logits):
    """Cross-entropy from logits, computed in float32 whatever the logits' dtype.

    Under mixed_bfloat16 the model outputs bfloat16 logits; the softmax and log
    of the loss need float32 (for float32 logits the cast is a no-op).
    """
    return keras.losses.sparse_categorical_crossentropy(
        y_true, tf.cast(logits, tf.float32), from_logits=True
    )


def compile_plain(model, optimizer, jit_compile: bool = False) -> None:
    model.compile(
        optimizer=optimizer,
        loss=float32_sparse_ce,  # Keras wraps it like SparseCategoricalCrossentropy
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
        jit_compile=jit_compile,
    )


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
) -> RoundTraining:
    """Train `wrapped` for one round (masks held fixed) and evaluate it.

    With `teacher`, training goes through the Distiller (knowledge distillation).
    """
    t, epochs = exp.train, exp.train.epochs
    check_precision(wrapped, t.precision)
    total_steps = epochs * feeds.steps_per_epoch
    optimizer = make_optimizer(t, total_steps, constant_lr)
    if teacher is not None:
        from lth_tf.distill import Distiller

        trainer = Distiller(
            student=wrapped,
            teacher=teacher,
            alpha=exp.distill.alpha,
            temperature=exp.distill.temperature,
            soft_on_all=exp.distill.all_nodes,
        )
        trainer.compile(optimizer=optimizer, jit_compile=t.jit_compile)
    else:
        trainer = wrapped
        compile_plain(wrapped, optimizer, t.jit_compile)

    keep = KeepBest(t.select_best, t.patience)
    events = EpochEvents(sink, round_, epochs, tb_dir)
    callbacks = [*wrap.callbacks(), *(extra_callbacks or []), events]
    if stop is not None:
        callbacks.append(StopOnEvent(stop))
    callbacks.append(keep)  # last: restores the best weights after the others ran

    t0 = time.time()
    if feeds.is_graph:
        fit_full_batch(trainer, feeds.train, feeds.val, epochs, callbacks, t.jit_compile)
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
    wrap.apply_masks(wrapped)
    seconds = time.time() - t0

    compile_plain(wrapped, make_optimizer(t, 1), t.jit_compile)
    val_loss, val_acc = evaluate(wrapped, feeds.val)
    test_loss, test_acc = evaluate(wrapped, feeds.test)
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


def fit_full_batch(
    trainer, train_batch, val_batch, epochs: int, callbacks: list, jit_compile: bool = False
) -> None:
    """`fit` for one fixed batch (the GCN's whole graph), without fit's per-epoch cost.

    Keras' fit builds data iterators and a validation loop every epoch, which for
    a one-step epoch costs more than the step itself (measured on Cora: 13 s vs
    7 s for 200 epochs). This loop calls the model's own train_step/test_step in
    tf.functions and drives the same callbacks in the same order as fit.
    """
    train_fn = tf.function(lambda: distribute.run_step(trainer, trainer.train_step, train_batch),
                           jit_compile=jit_compile)
    test_fn = tf.function(lambda: distribute.run_step(trainer, trainer.test_step, val_batch),
                          jit_compile=jit_compile)
    cbs = keras.callbacks.CallbackList(callbacks, model=trainer, epochs=epochs, steps=1, verbose=0)
    trainer.stop_training = False
    cbs.on_train_begin()
    for epoch in range(epochs):
        cbs.on_epoch_begin(epoch)
        for m in trainer.metrics:
            m.reset_state()
        cbs.on_train_batch_begin(0)
        logs = {k: float(v) for k, v in train_fn().items()}
        cbs.on_train_batch_end(0, logs)
        for m in trainer.metrics:
            m.reset_state()
        val = {f"val_{k}": float(v) for k, v in test_fn().items()}
        cbs.on_epoch_end(epoch, {**logs, **val})
        if trainer.stop_training:
            break
    cbs.on_train_end()


def evaluate(model, data) -> tuple[float, float]:
    """(loss, accuracy) of a compiled model on a dataset or one full batch."""
    if isinstance(data, tuple):  # full batch ((x, a), y, w)
        for m in model.metrics:
            m.reset_state()
        out = {k: float(v) for k, v in distribute.run_step(model, model.test_step, data).items()}
    else:
        out = model.evaluate(data, verbose=0, return_dict=True)
    loss, acc = float(out["loss"]), float(out["acc"])
    return (loss if math.isfinite(loss) else float("nan")), acc
