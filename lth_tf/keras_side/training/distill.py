"""Knowledge distillation from the dense network into a pruned student.

`Distiller` is a keras.Model in the style of the keras-io example: it overrides
`compile`, `train_step`, `test_step` and `metrics`; the teacher is frozen and
always runs with `training=False`; gradients go to the student only.

Per training step (student and teacher both output logits, labels are sparse
class ids, `w` the sample weights or 1):

    loss = (1 - alpha) * CE(y, student)
         + alpha * T**2 * KL(softmax(teacher / T) || softmax(student / T))
         + sum(student.losses)

CE and KL are weighted means, sum(w * l) / sum(w). For the full-batch graph case
(w = mask * N / mask.sum(), see docs/internals.md) that is the mean over the
masked nodes; without weights it is the plain batch mean. With
`soft_on_all=True` the KL term ignores the weights and averages over every
example of the batch (every node of the graph: the teacher sees all of it).

Logged per step and epoch: `loss`, `acc`, `student_loss` (hard CE),
`distill_loss` (the KL term including T**2, before alpha), `teacher_loss` (the
teacher's CE on the same batch). Evaluation logs `loss` and `acc` computed as a
plain compiled student would (CE + regularisers), so `val_loss`/`val_acc` read
the same with and without distillation.

tfmot pruning: pass the wrapped student and keep `UpdatePruningStep` in the
callbacks as usual. Its `collect_prunable_layers` recurses into every
keras.Model among `model.layers`, and the Distiller tracks `student` and
`teacher` as attributes, so the wrappers inside the student are found (the
tests check this). tfmot masks the kernel at the start of every wrapper call,
so the raw variables hold unmasked values after each optimizer step; the
callback's `on_epoch_end` masks them again, so after `fit` they are sparse. A
wrapped teacher would be found too; pass a plain (stripped) teacher.

Callbacks see the Distiller as `self.model`; callbacks that read or write the
pruned weights should use `getattr(self.model, "student", self.model)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lth_tf.core.events import DISTILL_LOSS, KD_KEYS, STUDENT_LOSS, TEACHER_LOSS
from lth_tf.platform.backend import keras, tf


def weighted_mean(values: tf.Tensor, sample_weight: tf.Tensor | None = None) -> tf.Tensor:
    """sum(w * values) / sum(w) over the batch; the plain mean when `w` is None."""
    values = tf.cast(values, tf.float32)
    if sample_weight is None:
        return tf.reduce_mean(values)
    w = tf.reshape(tf.cast(sample_weight, tf.float32), tf.shape(values))
    # divide_no_nan: a batch whose weights are all zero contributes 0, not NaN.
    return tf.math.divide_no_nan(tf.reduce_sum(w * values), tf.reduce_sum(w))


def sparse_ce(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Per-example cross-entropy of integer labels against logits."""
    return keras.losses.sparse_categorical_crossentropy(
        labels, tf.cast(logits, tf.float32), from_logits=True
    )


def soft_kl(teacher_logits: tf.Tensor, student_logits: tf.Tensor, temperature: float) -> tf.Tensor:
    """Per-example KL(softmax(teacher / T) || softmax(student / T)), without T**2."""
    t = tf.cast(teacher_logits, tf.float32) / temperature
    s = tf.cast(student_logits, tf.float32) / temperature
    # log_softmax on both sides: keras.losses.KLDivergence clips probabilities,
    # which biases the term when the teacher is confident.
    log_p = tf.nn.log_softmax(t, axis=-1)
    log_q = tf.nn.log_softmax(s, axis=-1)
    return tf.reduce_sum(tf.exp(log_p) * (log_p - log_q), axis=-1)


class Distiller(keras.Model):
    """Trains `student` on hard labels plus the softened outputs of a frozen `teacher`.

    Args:
      student: the model to train (a tfmot-wrapped pruned model or any keras
        model); outputs logits.
      teacher: the trained dense network; outputs logits. Set non-trainable
        here and always called with `training=False`.
      alpha: weight of the soft (KL) term; `1 - alpha` weighs the hard labels.
      temperature: softmax temperature T of the soft term (scaled by T**2).
      soft_on_all: average the soft term over every example of the batch,
        ignoring sample weights (graphs: every node, not only training nodes).

    Example:
      ```python
      d = Distiller(pruned_student, dense_teacher, alpha=0.7, temperature=2.0)
      d.compile(optimizer=keras.optimizers.Adam(0.01))
      d.fit(train_ds, validation_data=val_ds, epochs=5,
            callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
      logits = d.predict(x)  # the student's logits
      ```
    """

    def __init__(
        self,
        student: keras.Model,
        teacher: keras.Model,
        alpha: float = 0.5,
        temperature: float = 2.0,
        soft_on_all: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha {alpha} is outside [0, 1]; use e.g. 0.5")
        if temperature <= 0:
            raise ValueError(f"temperature {temperature} must be positive; use e.g. 2.0")
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        self.soft_on_all = bool(soft_on_all)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.acc_tracker = keras.metrics.SparseCategoricalAccuracy(name="acc")
        self.student_loss_tracker = keras.metrics.Mean(name=STUDENT_LOSS)
        self.distill_loss_tracker = keras.metrics.Mean(name=DISTILL_LOSS)
        self.teacher_loss_tracker = keras.metrics.Mean(name=TEACHER_LOSS)

    def compile(self, optimizer: Any = "adam", **kwargs: Any) -> None:
        """Set the optimizer (and Keras options such as `run_eagerly`).

        The losses and metrics are fixed by the Distiller, so `loss` and
        `metrics` are refused rather than silently ignored.
        """
        for key in ("loss", "metrics", "weighted_metrics", "loss_weights"):
            if kwargs.pop(key, None):
                raise TypeError(
                    f"Distiller.compile() computes its own losses and metrics; drop {key}="
                )
        # weighted_metrics=[]: our `acc` already uses the sample weights; this
        # silences Keras's warning that weighted evaluation has no weighted metrics.
        super().compile(optimizer=optimizer, weighted_metrics=[], **kwargs)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        # Listing the trackers here lets Keras reset them at each epoch start.
        return [
            self.loss_tracker,
            self.acc_tracker,
            self.student_loss_tracker,
            self.distill_loss_tracker,
            self.teacher_loss_tracker,
        ]

    def call(self, inputs: Any, training: bool | None = None) -> tf.Tensor:
        """The student's logits, so `predict` and `evaluate` use the student."""
        return self.student(inputs, training=training)

    def _regularisation(self) -> tf.Tensor:
        # Only the student's: the teacher is frozen, its penalties are constants.
        losses = self.student.losses
        return tf.add_n([tf.cast(v, tf.float32) for v in losses]) if losses else tf.constant(0.0)

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        # Outside the tape: no gradient flows to the teacher, and its ops are not recorded.
        teacher_logits = tf.stop_gradient(self.teacher(x, training=False))
        with tf.GradientTape() as tape:
            student_logits = self.student(x, training=True)
            student_loss = weighted_mean(sparse_ce(y, student_logits), sample_weight)
            kl = soft_kl(teacher_logits, student_logits, self.temperature)
            soft_weight = None if self.soft_on_all else sample_weight
            distill_loss = self.temperature**2 * weighted_mean(kl, soft_weight)
            loss = (
                (1.0 - self.alpha) * student_loss
                + self.alpha * distill_loss
                + self._regularisation()
            )
            # Under a strategy the replicas' gradients are summed: scale as Keras' compiled loss does.
            replicas = tf.distribute.get_replica_context().num_replicas_in_sync
            scaled = loss / replicas if replicas > 1 else loss
        # minimize (not apply_gradients) so a LossScaleOptimizer scales as in Model.fit.
        self.optimizer.minimize(scaled, self.student.trainable_variables, tape=tape)

        teacher_loss = weighted_mean(sparse_ce(y, teacher_logits), sample_weight)
        # Losses are averaged over the epoch weighted by batch size, as Keras does.
        batch = tf.shape(student_logits)[0]
        self.loss_tracker.update_state(loss, sample_weight=batch)
        self.student_loss_tracker.update_state(student_loss, sample_weight=batch)
        self.distill_loss_tracker.update_state(distill_loss, sample_weight=batch)
        self.teacher_loss_tracker.update_state(teacher_loss, sample_weight=batch)
        self.acc_tracker.update_state(y, student_logits, sample_weight=sample_weight)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data: Any) -> dict[str, tf.Tensor]:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        student_logits = self.student(x, training=False)
        # CE plus regularisers: what evaluate() of a plainly compiled student reports.
        loss = weighted_mean(sparse_ce(y, student_logits), sample_weight) + self._regularisation()
        self.loss_tracker.update_state(loss, sample_weight=tf.shape(student_logits)[0])
        self.acc_tracker.update_state(y, student_logits, sample_weight=sample_weight)
        # The teacher's validation loss would be the same number every epoch; not computed.
        return {"loss": self.loss_tracker.result(), "acc": self.acc_tracker.result()}


def distill_logs(logs: Mapping[str, Any] | None) -> dict[str, float]:
    """The distillation losses in a Keras logs dict as floats; {} when absent."""
    logs = logs or {}
    return {k: float(logs[k]) for k in KD_KEYS if k in logs}
