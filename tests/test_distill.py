"""Distiller: frozen teacher, alpha=0 equals plain training, masks hold, graph case."""

from __future__ import annotations

import numpy as np
import pytest

from lth_tf.platform.backend import keras, tf

# isort: split
# tfmot and spektral pick their Keras at import: lth_tf.platform.backend must come first.
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import (
    PruneLowMagnitude,
)

from lth_tf.keras_side.training.distill import Distiller, distill_logs, soft_kl, weighted_mean

prune = tfmot.sparsity.keras


def _blobs(n: int = 96, features: int = 6, classes: int = 3, seed: int = 0):
    """A small learnable problem: Gaussian blobs around fixed class centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2, (classes, features))
    y = rng.integers(0, classes, n)
    x = (centres[y] + rng.normal(0, 1, (n, features))).astype("float32")
    return x, y.astype("int64")


def _mlp(seed: int, features: int = 6, classes: int = 3, l2: float = 0.0, bn: bool = False):
    keras.utils.set_random_seed(seed)
    reg = keras.regularizers.L2(l2) if l2 else None
    inp = keras.Input((features,))
    h = keras.layers.Dense(16, activation="relu", kernel_regularizer=reg, name="hidden")(inp)
    if bn:
        h = keras.layers.BatchNormalization(name="bn")(h)
    out = keras.layers.Dense(classes, kernel_regularizer=reg, name="output")(h)
    return keras.Model(inp, out)


def _trained_teacher(x, y, epochs: int = 20):
    teacher = _mlp(1, bn=True)
    teacher.compile(
        keras.optimizers.Adam(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    teacher.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    return teacher


def _wrapped(model, sparsity_mask_seed: int = 0):
    """prune_low_magnitude with a schedule that never fires, and a 50% random mask set."""
    never = prune.ConstantSparsity(0.5, begin_step=10**9, frequency=10**9)
    wrapped = prune.prune_low_magnitude(model, pruning_schedule=never)
    rng = np.random.default_rng(sparsity_mask_seed)
    masks = {}
    for layer in wrapped.layers:
        if isinstance(layer, PruneLowMagnitude):
            for _weight, mask, _threshold in layer.pruning_vars:
                m = (rng.random(mask.shape) < 0.5).astype("float32")
                mask.assign(m)
                masks[layer.name] = m
    return wrapped, masks


def test_weighted_mean_and_kl():
    values = tf.constant([1.0, 2.0, 3.0, 6.0])
    assert float(weighted_mean(values)) == pytest.approx(3.0)
    mask = np.array([1, 0, 1, 0], "float32")
    graph_w = mask * len(mask) / mask.sum()  # Spektral's mask_to_weights
    assert float(weighted_mean(values, graph_w)) == pytest.approx(2.0)
    assert float(weighted_mean(values, tf.zeros(4))) == 0.0
    logits = tf.constant([[1.0, 2.0, 0.5]])
    assert float(soft_kl(logits, logits, 2.0)[0]) == pytest.approx(0.0, abs=1e-7)
    assert distill_logs({"loss": 1, "student_loss": np.float32(0.5), "distill_loss": 2}) == {
        "student_loss": 0.5,
        "distill_loss": 2.0,
    }
    assert distill_logs(None) == {}


def test_teacher_frozen_and_losses_reported():
    x, y = _blobs()
    teacher = _trained_teacher(x, y)
    before = [w.copy() for w in teacher.get_weights()]  # includes BN moving statistics
    distiller = Distiller(_mlp(2), teacher, alpha=0.5, temperature=2.0)
    distiller.compile(keras.optimizers.Adam(0.02))
    hist = distiller.fit(
        x, y, batch_size=32, epochs=8, verbose=0, validation_data=(x, y), shuffle=False
    ).history

    after = teacher.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert not teacher.trainable
    assert set(hist) == {
        "loss",
        "acc",
        "student_loss",
        "distill_loss",
        "teacher_loss",
        "val_loss",
        "val_acc",
    }
    assert all(np.isfinite(v).all() for v in hist.values())
    assert hist["distill_loss"][-1] < 0.5 * hist["distill_loss"][0]
    assert len(set(np.round(hist["teacher_loss"], 6))) == 1  # same batches, frozen teacher
    # predict/evaluate go through the student
    np.testing.assert_allclose(
        distiller.predict(x, verbose=0), distiller.student(x).numpy(), atol=1e-6
    )
    logs = distiller.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "acc"}


def test_alpha_zero_matches_plain_training():
    x, y = _blobs()
    teacher = _mlp(1)
    plain = _mlp(3, l2=1e-3)
    student = _mlp(3, l2=1e-3)
    for a, b in zip(plain.get_weights(), student.get_weights()):
        np.testing.assert_array_equal(a, b)

    plain.compile(
        keras.optimizers.SGD(0.1, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
    )
    plain_hist = plain.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    distiller = Distiller(student, teacher, alpha=0.0)
    distiller.compile(keras.optimizers.SGD(0.1, momentum=0.9))
    hist = distiller.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history

    for a, b in zip(plain.get_weights(), student.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hist["loss"], plain_hist["loss"], rtol=1e-5)
    np.testing.assert_allclose(hist["acc"], plain_hist["acc"])
    # validation reads like a plainly compiled student (CE + L2)
    ours = distiller.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    theirs = plain.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-5)
    assert ours["acc"] == pytest.approx(theirs["acc"])


def test_masks_hold_with_pruning_wrappers_nested_in_distiller():
    x, y = _blobs()
    student, masks = _wrapped(_mlp(2))
    distiller = Distiller(student, _mlp(1), alpha=0.5)

    # UpdatePruningStep collects the wrappers through the Distiller (nested model).
    found = prune.UpdatePruningStep()
    found.set_model(distiller)
    found.on_train_begin()
    assert sorted(w.name for w in found.prunable_layers) == sorted(masks)

    wrappers = [layer for layer in student.layers if isinstance(layer, PruneLowMagnitude)]
    raw_masked = []

    class Probe(keras.callbacks.Callback):
        # Reads the raw kernels after each optimizer step, before any re-masking.
        def on_train_batch_end(self, batch, logs=None):
            raw_masked.append(
                max(
                    float(np.abs(w.numpy()[m.numpy() == 0]).max())
                    for layer in wrappers
                    for w, m, _ in layer.pruning_vars
                )
            )

    distiller.compile(keras.optimizers.Adam(0.02))
    distiller.fit(
        x, y, batch_size=32, epochs=2, verbose=0, callbacks=[prune.UpdatePruningStep(), Probe()]
    )
    # tfmot masks at the start of each call, so each optimizer step leaves the
    # masked entries non-zero until the next call or UpdatePruningStep.on_epoch_end.
    assert max(raw_masked) > 0.0
    for layer in wrappers:
        assert int(layer.pruning_step.numpy()) == 2 * 3  # 2 epochs x 3 batches
        for weight, mask, _ in layer.pruning_vars:
            np.testing.assert_array_equal(mask.numpy(), masks[layer.name])  # schedule never fired
            assert np.all(weight.numpy()[masks[layer.name] == 0] == 0.0)
            assert np.count_nonzero(weight.numpy()[masks[layer.name] == 1]) > 0


# -- the full-batch graph case ------------------------------------------------------


def _graph(n: int = 40, features: int = 8, classes: int = 3, seed: int = 0):
    import scipy.sparse as sp
    from spektral.layers import GCNConv
    from spektral.utils import sp_matrix_to_sp_tensor

    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = (
        np.eye(classes)[y] @ rng.normal(0, 1, (classes, features)) + rng.normal(0, 1, (n, features))
    ).astype("float32")
    dense = (rng.random((n, n)) < 0.1).astype("float32")
    adj = sp.csr_matrix(np.maximum(dense, dense.T))
    a = sp_matrix_to_sp_tensor(GCNConv.preprocess(adj).astype("float32"))
    train = np.zeros(n, bool)
    train[: n // 4] = True
    return x, a, y.astype("int64"), train


def _gcn(seed: int, n: int, features: int = 8, classes: int = 3):
    from spektral.layers import GCNConv

    keras.utils.set_random_seed(seed)
    x_in = keras.Input((features,))
    a_in = keras.Input((n,), sparse=True)
    h = GCNConv(8, activation="relu", name="gcn1")([x_in, a_in])
    out = GCNConv(classes, name="output")([h, a_in])
    return keras.Model([x_in, a_in], out)


def _kl_mean(teacher, student, inputs, nodes, temperature):
    kl = soft_kl(teacher(inputs, training=False), student(inputs, training=False), temperature)
    return temperature**2 * float(np.mean(kl.numpy()[nodes]))


def test_graph_full_batch_soft_on_all_both_ways():
    x, a, y, train = _graph()
    n = len(y)
    weights = (train * n / train.sum()).astype("float32")
    val = ~train
    val_weights = (val * n / val.sum()).astype("float32")
    teacher = _gcn(1, n)
    data = tf.data.Dataset.from_tensors(((x, a), y, weights)).repeat()
    val_data = tf.data.Dataset.from_tensors(((x, a), y, val_weights))

    distill = {}
    for soft_on_all in (False, True):
        student = _gcn(2, n)
        # One step per epoch: epoch 1 logs the losses of the initial weights.
        nodes = slice(None) if soft_on_all else train
        expected = _kl_mean(teacher, student, (x, a), nodes, 2.0)
        distiller = Distiller(student, teacher, alpha=0.7, temperature=2.0, soft_on_all=soft_on_all)
        distiller.compile(keras.optimizers.Adam(0.01))
        hist = distiller.fit(
            data, steps_per_epoch=1, epochs=3, validation_data=val_data, verbose=0
        ).history
        assert all(np.isfinite(v).all() for v in hist.values())
        assert {"val_loss", "val_acc", "distill_loss", "teacher_loss"} <= set(hist)
        assert hist["distill_loss"][0] == pytest.approx(expected, rel=1e-4)
        distill[soft_on_all] = hist["distill_loss"][0]
    assert distill[True] != pytest.approx(distill[False], rel=1e-3)


def test_real_gcn_wrapped_by_lth_tf_pruning():
    """The stack the lottery loop uses: models.build + pruning.wrap + Distiller."""
    P = pytest.importorskip("lth_tf.keras_side.pruning")
    models = pytest.importorskip("lth_tf.keras_side.models")
    from lth_tf.core.config import Model

    x, a, y, train = _graph()
    n = len(y)
    cfg = Model(name="gcn", hidden=8, dropout=0.5, l2=5e-4)
    teacher = models.build(cfg, (x.shape[1],), 3, seed=0)
    before = [w.copy() for w in teacher.get_weights()]
    student = P.wrap(models.build(cfg, (x.shape[1],), 3, seed=0))
    rng = np.random.default_rng(0)
    masks = {
        k: (rng.random(m.shape) < 0.5).astype("float32") for k, m in P.get_masks(student).items()
    }
    P.set_masks(student, masks)
    reg0 = float(tf.add_n(student.losses))
    assert reg0 > 0

    weights = (train * n / train.sum()).astype("float32")
    data = tf.data.Dataset.from_tensors(((x, a), y, weights)).repeat()
    distiller = Distiller(student, teacher, alpha=0.7, temperature=2.0, soft_on_all=True)
    distiller.compile(keras.optimizers.Adam(0.01))
    hist = distiller.fit(data, steps_per_epoch=1, epochs=3, verbose=0, callbacks=P.callbacks())
    h = {k: np.asarray(v) for k, v in hist.history.items()}

    # epoch 1 = the initial weights: loss = 0.3 CE + 0.7 T^2 KL + L2
    expected = 0.3 * h["student_loss"][0] + 0.7 * h["distill_loss"][0] + reg0
    assert h["loss"][0] == pytest.approx(expected, rel=1e-5)
    assert all(np.isfinite(v).all() for v in h.values())
    assert all(np.array_equal(p, q) for p, q in zip(before, teacher.get_weights()))
    kernels = P.get_kernels(student)
    for name, m in masks.items():
        np.testing.assert_array_equal(P.get_masks(student)[name], m)
        assert np.all(kernels[name][m == 0] == 0.0)
