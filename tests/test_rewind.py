"""RewindMode parsing and RewindCallback's snapshot point (tiny plain Keras models).

The lottery-level checks (rounds start from the snapshot) are in test_lottery.py;
here the snapshot at step k is compared with an independent run of exactly k
training steps from the same initial weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from lth_tf.keras_side.pruning.rewind import RewindCallback, RewindMode
from lth_tf.platform.backend import keras

BATCH, SAMPLES = 8, 32  # 4 steps per epoch


@pytest.mark.parametrize(
    ("text", "kind", "step", "snapshot", "label"),
    [
        ("init", "step", 0, True, "init"),
        ("step:0", "step", 0, True, "init"),
        ("step:250", "step", 250, True, "step:250"),
        ("lr", "lr", 0, False, "lr"),
        ("finetune", "finetune", 0, False, "finetune"),
    ],
)
def test_parse(text, kind, step, snapshot, label):
    mode = RewindMode.parse(text)
    assert (mode.kind, mode.step, mode.uses_snapshot, mode.label) == (kind, step, snapshot, label)


@pytest.mark.parametrize("text", ["", "step:", "step:-1", "step:1.5", "init\n", "LR", "k:3"])
def test_parse_rejects(text):
    with pytest.raises(ValueError, match="unknown rewind mode"):
        RewindMode.parse(text)


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
