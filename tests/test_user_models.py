"""User models: file:, py: and from_keras, their checks, softmax heads, reinit."""

from __future__ import annotations

import itertools
import textwrap

import numpy as np
import pytest

from lth_tf.core.config import Model
from lth_tf.core.errors import LthError
from lth_tf.keras_side import models
from lth_tf.keras_side import pruning as P
from lth_tf.platform.backend import keras

L = keras.layers
SHAPE, CLASSES = (6, 6, 2), 3
_names = itertools.count()


def small(activation: str | None = None, name: str = "small") -> keras.Model:
    inp = keras.Input(SHAPE)
    x = L.Conv2D(3, 3, activation="relu", name="conv")(inp)
    x = L.BatchNormalization(name="bn")(x)
    x = L.Flatten(name="flat")(x)
    return keras.Model(inp, L.Dense(CLASSES, activation=activation, name="head")(x), name=name)


def same(a: keras.Model, b: keras.Model) -> bool:
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb, strict=True))


def data(n: int = 4) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, *SHAPE)).astype(np.float32)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def user_error(make, match: str) -> str:
    with pytest.raises(LthError, match=match) as info:
        make()
    message = str(info.value)
    assert "\n" not in message
    return message


# -- file: ------------------------------------------------------------------------


@pytest.fixture(scope="module", params=[".keras", ".h5"])
def saved(request, tmp_path_factory):
    model = small()
    # Non-initial stored weights, as a pretrained model has.
    model.set_weights([w + 0.5 for w in model.get_weights()])
    path = tmp_path_factory.mktemp("saved") / f"pretrained{request.param}"
    model.save(path)
    return path, model


def test_file_model_starts_from_its_stored_weights(saved):
    path, original = saved
    cfg = Model(name=f"file:{path}")
    a = models.build(cfg, SHAPE, CLASSES, seed=0)
    b = models.build(cfg, SHAPE, CLASSES, seed=1)  # the seed does not matter
    assert same(a, original) and same(b, original)
    assert a is not b and a.weights[0] is not b.weights[0]  # each round its own variables
    wrapped = P.wrap(a)
    assert sorted(P.get_masks(wrapped)) == ["conv", "head"]
    assert P.unpruned_layers(wrapped) == [("bn", "BatchNormalization")]


def test_file_model_reinit_is_fresh_and_seed_deterministic(saved):
    path, original = saved
    cfg = Model(name=f"file:{path}", reinit=True)
    a = models.build(cfg, SHAPE, CLASSES, seed=3)
    keras.backend.clear_session()  # as the engine does between rounds
    b = models.build(cfg, SHAPE, CLASSES, seed=3)
    c = models.build(cfg, SHAPE, CLASSES, seed=4)
    assert same(a, b)
    assert not same(a, original) and not same(a, c)
    # Fresh BatchNorm statistics, not the stored ones.
    np.testing.assert_array_equal(a.get_layer("bn").moving_mean.numpy(), 0.0)


def test_corrupt_or_missing_model_files_are_user_errors(tmp_path, saved):
    junk = tmp_path / "junk.keras"
    junk.write_bytes(np.random.default_rng(0).bytes(2000))
    build = lambda p: models.build(Model(name=f"file:{p}"), SHAPE, CLASSES, 0)
    user_error(lambda: build(junk), "cannot load .*junk.keras")
    path, _ = saved
    cut = tmp_path / f"cut{path.suffix}"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    user_error(lambda: build(cut), "cannot load .*cut")
    user_error(lambda: build(tmp_path / "nope.keras"), "no such file")


# -- softmax heads ------------------------------------------------------------------


def test_softmax_activation_of_the_last_layer_becomes_linear():
    user = small(activation="softmax")
    built = models.from_keras(user)(SHAPE, CLASSES, 0)
    assert len(built.notes) == 1 and "'head'" in built.notes[0] and "linear" in built.notes[0]
    assert same(built.model, user)
    x = data()
    logits = built.model(x).numpy()
    np.testing.assert_allclose(softmax(logits), user(x).numpy(), atol=1e-6)
    assert user.get_layer("head").activation.__name__ == "softmax"  # the user's model is untouched
    assert P.wrap(built.model).get_layer("prune_low_magnitude_head").layer.activation.__name__ == "linear"


@pytest.mark.parametrize("final", [L.Softmax, lambda name: L.Activation("softmax", name=name)])
def test_a_final_softmax_layer_is_dropped(final):
    user = small()
    out = final(name="probs")(user.output)
    user = keras.Model(user.input, out)
    built = models.from_keras(user)(SHAPE, CLASSES, 0)
    assert "probs" in built.notes[0]
    assert [layer.name for layer in built.model.layers][-1] == "head"
    x = data()
    np.testing.assert_allclose(softmax(built.model(x).numpy()), user(x).numpy(), atol=1e-6)


def test_models_without_softmax_get_no_notes():
    assert models.from_keras(small())(SHAPE, CLASSES, 0).notes == ()


# -- from_keras -------------------------------------------------------------------


def test_a_built_model_is_copied_with_the_weights_it_had():
    user = small()
    theta0 = [w.copy() for w in user.get_weights()]
    src = models.from_keras(user)
    user.set_weights([w + 1.0 for w in theta0])  # training the user's object later...
    a, b = src(SHAPE, CLASSES, 0).model, src(SHAPE, CLASSES, 1).model
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), theta0, strict=True))  # ...changes nothing
    assert same(a, b) and a.weights[0] is not b.weights[0]


def test_a_factory_that_ignores_the_seed_is_still_deterministic():
    src = models.from_keras(lambda seed: small())
    a = src(SHAPE, CLASSES, 5).model
    keras.backend.clear_session()
    b = src(SHAPE, CLASSES, 5).model
    c = src(SHAPE, CLASSES, 6).model
    assert same(a, b) and not same(a, c)


def test_sequential_models_built_and_unbuilt():
    built = keras.Sequential([keras.Input(SHAPE), L.Flatten(), L.Dense(CLASSES, name="out")])
    unbuilt = keras.Sequential([L.Flatten(), L.Dense(CLASSES, name="out")])
    for user in (built, unbuilt):
        src = models.from_keras(user)
        a, b = src(SHAPE, CLASSES, 7).model, src(SHAPE, CLASSES, 7).model
        assert a.built and tuple(a.input_shape) == (None, *SHAPE)
        assert same(a, b)
        assert list(P.get_masks(P.wrap(a))) == ["out"]
    assert not unbuilt.built  # the user's object is left as it was


# -- py: ----------------------------------------------------------------------------


def write_module(tmp_path, monkeypatch, body: str) -> str:
    """A module in tmp_path (the working directory) with a fresh name; returns the name."""
    name = f"user_models_{next(_names)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    monkeypatch.chdir(tmp_path)
    return name


FACTORY = """
    import tf_keras as keras

    def build(input_shape, num_classes, seed):
        inp = keras.Input(input_shape)
        x = keras.layers.Flatten()(inp)
        return keras.Model(inp, keras.layers.Dense(num_classes, name="out")(x))

    def broken(input_shape, num_classes, seed):
        raise RuntimeError("no GPU here")

    def not_a_model(input_shape, num_classes, seed):
        return 42
"""


def test_py_factory_builds_deterministically_from_the_working_directory(tmp_path, monkeypatch):
    mod = write_module(tmp_path, monkeypatch, FACTORY)
    cfg = Model(name=f"py:{mod}:build")
    a = models.build(cfg, SHAPE, CLASSES, seed=1)
    b = models.build(cfg, SHAPE, CLASSES, seed=1)
    c = models.build(cfg, SHAPE, CLASSES, seed=2)
    assert same(a, b) and not same(a, c)
    assert a.output_shape == (None, CLASSES)


def test_py_factory_errors_are_user_errors(tmp_path, monkeypatch):
    mod = write_module(tmp_path, monkeypatch, FACTORY)
    build = lambda fn: models.build(Model(name=f"py:{mod}:{fn}"), SHAPE, CLASSES, 0)
    msg = user_error(lambda: build("broken"), "raised RuntimeError: no GPU here")
    assert f"py:{mod}:broken" in msg
    user_error(lambda: build("not_a_model"), "gave a int, not a tf_keras Model")
    user_error(lambda: build("missing"), "has no function 'missing'")
    bad = write_module(tmp_path, monkeypatch, "raise ImportError('needs torch')\n")
    user_error(lambda: models.build(Model(name=f"py:{bad}:f"), SHAPE, CLASSES, 0), "importing .* failed")


# -- models refused ------------------------------------------------------------------


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = L.Dense(CLASSES)

    def call(self, x):
        return self.dense(L.Flatten()(x))


def refused(model, match: str) -> str:
    return user_error(lambda: models.from_keras(model)(SHAPE, CLASSES, 0), match)


def test_subclassed_models_are_refused_with_the_reason():
    model = Subclassed()
    model(data())
    refused(model, "subclassed model .*functional or Sequential")
    refused(Subclassed(), "subclassed model")


def test_shape_mismatches_name_both_shapes():
    inp = keras.Input((5, 5, 2))
    wrong_in = keras.Model(inp, L.Dense(CLASSES)(L.Flatten()(inp)))
    msg = refused(wrong_in, "takes input of shape")
    assert "(5, 5, 2)" in msg and str(SHAPE) in msg
    inp = keras.Input(SHAPE)
    wrong_out = keras.Model(inp, L.Dense(CLASSES + 1)(L.Flatten()(inp)))
    msg = refused(wrong_out, "outputs shape")
    assert f"(None, {CLASSES + 1})" in msg and f"(None, {CLASSES})" in msg
    not_flat = keras.Model(inp, L.Dense(CLASSES)(inp))
    refused(not_flat, r"outputs shape \(None, 6, 6, 3\)")
    # None sizes fit any data size.
    inp = keras.Input((None, None, 2))
    pooled = L.GlobalAveragePooling2D()(L.Conv2D(2, 1)(inp))
    assert models.from_keras(keras.Model(inp, L.Dense(CLASSES)(pooled)))(SHAPE, CLASSES, 0).notes == ()


def test_nested_and_wrapped_models_are_refused():
    inner = small(name="backbone")
    inp = keras.Input(SHAPE)
    nested = keras.Model(inp, L.Dense(CLASSES)(inner(inp)))
    refused(nested, "nests the model 'backbone'.*flatten it")
    refused(P.wrap(small()), "already holds pruning wrappers")


def test_things_that_are_not_models_are_refused():
    user_error(lambda: models.from_keras("model.keras"), "from_keras got a str")
    user_error(lambda: models.from_keras(lambda seed: "nope")(SHAPE, CLASSES, 0), "gave a str")
