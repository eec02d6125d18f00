"""Rewind modes parsed from prune.rewind, and RewindCallback's snapshot point (tiny plain Keras models).

The lottery-level checks (rounds start from the snapshot) are in test_lottery.py;
here the snapshot at step k is compared with an independent run of exactly k
training steps from the same initial weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from lth_tf.core import config as C
from lth_tf.core import rewind
from lth_tf.keras_side.pruning.rewind import RewindCallback
from lth_tf.platform.backend import keras

BATCH, SAMPLES = 8, 32  # 4 steps per epoch


TRAIN = C.Train(learning_rate=0.2, finetune_lr=0.0)


@pytest.mark.parametrize(
    ("text", "snapshot_step", "constant_lr", "label"),
    [
        ("init", 0, None, "init"),
        ("step:0", 0, None, "init"),
        ("step:250", 250, None, "step:250"),
        ("lr", None, None, "lr"),
        ("finetune", None, 0.02, "finetune"),
    ],
)
def test_parse(text, snapshot_step, constant_lr, label):
    mode = rewind.parse(text)
    assert (mode.snapshot_step, mode.uses_snapshot, mode.label) == (snapshot_step, snapshot_step is not None, label)
    assert mode.constant_lr(TRAIN) == (None if constant_lr is None else pytest.approx(constant_lr))
    assert rewind.parse(mode.label).snapshot_step == snapshot_step  # the label parses back


def test_finetune_takes_its_own_rate_when_set():
    assert rewind.parse("finetune").constant_lr(C.Train(learning_rate=0.2, finetune_lr=0.005)) == 0.005


@pytest.mark.parametrize(
    "text", ["", "step:", "step:-1", "step:1.5", "init\n", "step:5\n", "LR", "k:3", "lr:3", "init:0", ":"]
)
def test_parse_rejects(text):
    with pytest.raises(ValueError, match="unknown rewind mode"):
        rewind.parse(text)


def test_config_takes_the_grammar_and_the_message_from_the_registry():
    assert rewind.usage() == "init, step:K (K>=0), lr or finetune"
    for word, mode in rewind.MODES.items():
        assert mode.word == word and mode.usage.startswith(word)
        text = f"{word}:3" if mode.takes_step else word
        C.validate(C.set_value(C.Experiment(), "prune.rewind", text))
    with pytest.raises(C.LthError, match=r"prune.rewind 'step:x' is unknown; use init, step:K \(K>=0\), lr or finetune"):
        C.validate(C.set_value(C.Experiment(), "prune.rewind", "step:x"))


def _model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    x = keras.layers.Dense(5, name="dense")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    outputs = keras.layers.Dense(3, name="output")(keras.layers.ReLU()(x))
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(SAMPLES, 6)).astype("float32"), rng.integers(0, 3, SAMPLES)


def _after_steps(init: list[np.ndarray], k: int) -> list[np.ndarray]:
    """Weights after exactly k steps over the same batches, in a separate model."""
    model = _model()
    model.set_weights(init)
    if k:
        x, y = _data()
        reps = -(-k * BATCH // SAMPLES)
        xs, ys = np.concatenate([x] * reps)[: k * BATCH], np.concatenate([y] * reps)[: k * BATCH]
        model.fit(xs, ys, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return model.get_weights()


@pytest.mark.parametrize("k", [0, 1, 3, 6])  # 6: in the second epoch
def test_snapshot_is_the_weights_after_k_steps(k):
    model = _model()
    init = model.get_weights()
    cb = RewindCallback(k)
    x, y = _data()
    model.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0, callbacks=[cb])
    assert cb.reached
    assert len(cb.snapshot) == len(init) == 8  # kernels, biases, BN gamma/beta/moving stats
    expected = _after_steps(init, k)
    for got, want in zip(cb.snapshot, expected):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    final = model.get_weights()
    assert all(not np.array_equal(a, b) for a, b in zip(cb.snapshot, final))
    if k:
        assert all(not np.array_equal(a, b) for a, b in zip(cb.snapshot, init))


def test_snapshot_is_a_copy():
    model = _model()
    cb = RewindCallback(0)
    x, y = _data()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[cb])
    before = [a.copy() for a in cb.snapshot]
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    for a, b in zip(cb.snapshot, before):
        np.testing.assert_array_equal(a, b)


def test_step_beyond_training_takes_the_final_weights_and_says_so():
    model = _model()
    cb = RewindCallback(100)
    x, y = _data()
    model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[cb])
    assert not cb.reached
    for a, b in zip(cb.snapshot, model.get_weights()):
        np.testing.assert_array_equal(a, b)
