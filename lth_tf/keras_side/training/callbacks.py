"""The Keras callbacks of one round: best-epoch selection, epoch events, stop.

Model selection: with `train.select_best`, the weights of the epoch with the best
validation accuracy (ties: lower validation loss) are kept; test data is only
ever evaluated after training, never used for selection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lth_tf.core import events as E
from lth_tf.core.errors import LthError
from lth_tf.platform.backend import keras, tf
from lth_tf.storage import atomic


class Stopped(Exception):
    """Raised inside training when the caller's stop event is set."""


class Diverged(LthError):
    """Raised inside training when the loss or a weight stops being finite (NaN or inf)."""


class StopOnDivergence(keras.callbacks.Callback):
    """Ends the round at the first non-finite training loss (checked every batch) or
    weight (every epoch end), with one line naming the round, the epoch and the fix.

    `advice`: the settings to name (the learning rate in force). The round is then
    not stored: the run is marked failed and the rounds before it stay as they were.
    """

    def __init__(self, round_: int, epochs: int, advice: str):
        super().__init__()
        self.round, self.epochs, self.advice = round_, epochs, advice
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        for key in ("loss", E.STUDENT_LOSS):
            value = (logs or {}).get(key)
            if value is not None and not np.isfinite(float(value)):
                self._stop(f"the training loss is {float(value)} at batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        self.epoch = epoch + 1
        for w in self.model.trainable_weights:
            values = w.numpy()
            if not np.isfinite(values).all():
                bad = int(values.size - np.count_nonzero(np.isfinite(values)))
                self._stop(f"{bad} of {values.size} weights of {w.name} are not finite")

    def _stop(self, what: str) -> None:
        raise Diverged(
            f"round {self.round} diverged in epoch {self.epoch} of {self.epochs}: {what} "
            f"(not finite); {self.advice}, or check the data for NaN/inf, then run again "
            "(new settings make a new run; this one stays readable, marked failed)"
        )


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
        self.sink, self.round, self.epochs, self.tb_dir = sink, round_, epochs, tb_dir
        self.writer = None
        if tb_dir:
            with atomic.writing(tb_dir):  # a full disk names the folder (TensorFlow's own error does not)
                self.writer = tf.summary.create_file_writer(str(tb_dir))
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
            with atomic.writing(self.tb_dir), self.writer.as_default():
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
