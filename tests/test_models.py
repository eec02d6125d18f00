"""Every registered model builds, trains a step, reloads, and is seeded."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from helpers.models import (
    NAMES,
    NUM_CLASSES,
    SMALL,
    build_small,
    compile_and_fit,
    inputs,
    predict,
    save_and_reload,
    weights_equal,
)

from lth_tf.core.config import MODELS, Model
from lth_tf.core.errors import LthError
from lth_tf.keras_side import models
from lth_tf.platform.backend import keras


def test_registry_matches_config():
    assert set(models.REGISTRY) == set(MODELS) == set(NAMES)


def test_unknown_model_is_a_user_error():
    with pytest.raises(LthError, match="No such model: 'vgg'"):
        models.build(Model(name="vgg"), (32, 32, 3), 10, 0)


def test_importing_the_registry_does_not_import_tensorflow():
    code = "import sys, lth_tf.keras_side.models; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", NAMES)
def test_builds_trains_and_reloads(name, tmp_path):
    model = build_small(name)
    assert model.layers[-1].name == "output"
    assert model.layers[-1].activation is keras.activations.linear  # logits, no softmax
    history = compile_and_fit(model, name, steps=1)
    assert np.isfinite(history.history["loss"][0])

    out = predict(model, name)
    rows = int(inputs(name)[0].dense_shape[0]) if name == "gcn" else len(inputs(name))
    assert out.shape == (rows, NUM_CLASSES)
    assert not np.allclose(out.sum(axis=1), 1.0)  # not probabilities

    reloaded = save_and_reload(model, tmp_path)
    assert weights_equal(model, reloaded)
    np.testing.assert_array_equal(predict(reloaded, name), out)

    rebuilt = keras.Model.from_config(model.get_config(), custom_objects=models.custom_objects())
    rebuilt.set_weights(model.get_weights())
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(predict(rebuilt, name), out)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_weights_other_seed_other_weights(name):
    a, b, c = build_small(name, seed=3), build_small(name, seed=3), build_small(name, seed=4)
    assert weights_equal(a, b)
    kernels = [i for i, w in enumerate(a.weights) if "kernel" in w.name]
    assert kernels
    wa, wc = a.get_weights(), c.get_weights()
    assert all(not np.array_equal(wa[i], wc[i]) for i in kernels)


def test_seed_does_not_depend_on_global_random_state():
    a = build_small("tiny_cnn", seed=1)
    keras.utils.set_random_seed(12345)
    np.random.random(100)
    assert weights_equal(a, build_small("tiny_cnn", seed=1))


def test_resnet18_size_and_layout():
    full = models.build(Model(name="resnet18", width=64), (32, 32, 3), 10, 0)
    assert 11.1e6 <= full.count_params() <= 11.3e6
    small = models.build(Model(name="resnet18", width=16), (32, 32, 3), 10, 0)
    assert 0.65e6 <= small.count_params() <= 0.75e6

    convs = [layer for layer in full.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 1 + 8 * 2 + 3  # stem, 8 blocks of two, 3 shortcut projections
    assert all(not c.use_bias and c.kernel_regularizer is not None for c in convs)
    assert full.get_layer("stem_conv").strides == (1, 1)
    assert not any(isinstance(layer, keras.layers.MaxPooling2D) for layer in full.layers)
    assert full.get_layer("stage4_block2_relu2").output.shape[1:] == (4, 4, 512)
    assert full.get_layer("output").kernel_regularizer is not None


def test_gcn_regularises_only_the_first_kernel():
    model = build_small("gcn")
    assert model.get_layer("gcn1").kernel_regularizer is not None
    assert model.get_layer("output").kernel_regularizer is None
    assert len(model.losses) == 1


def test_conv4_at_width_64_is_the_papers_net():
    model = models.build(Model(name="conv4", width=64), (32, 32, 3), 10, 0)
    assert [model.get_layer(f"conv{i}").filters for i in range(1, 5)] == [64, 64, 128, 128]
    assert 2.4e6 <= model.count_params() <= 2.5e6


@pytest.mark.parametrize(
    ("name", "shape"),
    [("resnet18", (12,)), ("conv4", (8, 8)), ("tiny_cnn", (12,)), ("gcn", (8, 8, 3))],
)
def test_wrong_input_shape_is_a_user_error(name, shape):
    with pytest.raises(LthError, match=f"model '{name}' needs"):
        models.build(SMALL[name][0], shape, NUM_CLASSES, 0)


def test_bad_width_is_a_user_error():
    with pytest.raises(LthError, match="model.width 0"):
        models.build(Model(name="resnet18", width=0), (8, 8, 3), NUM_CLASSES, 0)


def test_gcn_dropout_acts_only_in_training():
    model = build_small("gcn")
    x = inputs("gcn")
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    assert not np.array_equal(model(x, training=True), model(x, training=True))
