"""The tfmot glue: wrapping, fixed masks through training, strip, save/load.

Some tests pin down tfmot behaviour that the notes of lth_tf/keras_side/pruning/__init__.py rely on (inference
re-masks; pruned entries drift between an optimizer step and the next forward
pass; fit needs UpdatePruningStep), so a tfmot upgrade that changes it fails here.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.models import NAMES, build_small, compile_and_fit, predict, save_and_reload

from lth_tf.core.errors import LthError
from lth_tf.keras_side import models
from lth_tf.keras_side import pruning as P
from lth_tf.platform.backend import keras, tf

# After lth_tf.platform.backend: tfmot must see Keras 2.
import tensorflow_model_optimization as tfmot  # isort: skip


def random_masks(wrapped, keep=0.5, seed=0):
    rng = np.random.default_rng(seed)
    shapes = {n: m.shape for n, m in P.get_masks(wrapped).items()}
    return {n: (rng.random(s) < keep).astype(np.float32) for n, s in shapes.items()}


def unmask_by_hand(wrapped):
    """Put 1.0 into every pruned kernel entry, bypassing tfmot."""
    for w in P.wrappers(wrapped):
        kernel, mask, _ = w.pruning_vars[0]
        kernel.assign_add(1.0 - mask)


def pruned_nonzeros(kernels, masks):
    return {n: int(np.count_nonzero(kernels[n][masks[n] == 0])) for n in masks}


@pytest.mark.parametrize("name", NAMES)
def test_wrap_puts_every_kernel_in_a_wrapper_and_keeps_the_function(name):
    model = build_small(name)
    names = P.prunable_layer_names(model)
    wrapped = P.wrap(model)

    plain = [layer for layer in wrapped.layers if not isinstance(layer, P.PruneLowMagnitude)]
    assert not any(P.is_prunable(layer) for layer in plain)
    assert [w.layer.name for w in P.wrappers(wrapped)] == names
    assert P.prunable_layer_names(wrapped) == names
    for w in P.wrappers(wrapped):
        # Only the kernel is pruned: biases and BatchNorm parameters are not.
        assert [v.name for v, _, _ in w.pruning_vars] == [w.layer.kernel.name]
    assert not any(isinstance(layer, keras.layers.BatchNormalization) and
                   isinstance(layer, P.PruneLowMagnitude) for layer in wrapped.layers)

    masks = P.get_masks(wrapped)
    assert list(masks) == names
    assert all(m.dtype == np.float32 and np.all(m == 1.0) for m in masks.values())
    kernels = P.get_kernels(wrapped)
    assert all(np.array_equal(kernels[n], model.get_layer(n).get_weights()[0]) for n in names)
    np.testing.assert_array_equal(predict(wrapped, name), predict(model, name))


def test_wrap_copies_rather_than_shares_variables():
    model = build_small("tiny_cnn")
    wrapped = P.wrap(model)
    P.set_masks(wrapped, {"conv1": np.zeros_like(P.get_masks(wrapped)["conv1"])})
    assert np.count_nonzero(model.get_layer("conv1").kernel.numpy()) > 0


def test_excluded_layers_are_not_wrapped():
    model = build_small("resnet18")
    wrapped = P.wrap(model, exclude=("stem_conv", "output"))
    assert isinstance(wrapped.get_layer("stem_conv"), keras.layers.Conv2D)
    assert isinstance(wrapped.get_layer("output"), keras.layers.Dense)
    assert "stem_conv" not in P.get_masks(wrapped) and "output" not in P.get_masks(wrapped)
    assert len(P.get_masks(wrapped)) == len(P.prunable_layer_names(model)) - 2
    with pytest.raises(LthError, match="prune.exclude: 'stem_bn' is not a prunable layer"):
        P.wrap(model, exclude=("stem_bn",))


@pytest.mark.parametrize("name", NAMES)
def test_masks_hold_through_training_and_strip(name):
    wrapped = P.wrap(build_small(name))
    masks = random_masks(wrapped)
    P.set_masks(wrapped, masks)
    assert pruned_nonzeros(P.get_kernels(wrapped), masks) == {n: 0 for n in masks}

    before = P.get_kernels(wrapped)
    compile_and_fit(wrapped, name, steps=3, callbacks=P.callbacks())
    after = P.get_kernels(wrapped)
    assert any(not np.array_equal(before[n], after[n]) for n in masks)  # it did train
    assert pruned_nonzeros(after, masks) == {n: 0 for n in masks}
    got = P.get_masks(wrapped)
    assert all(np.array_equal(got[n], masks[n]) for n in masks)  # the schedule never fired

    stripped = P.strip(wrapped)
    assert not any(isinstance(layer, P.PruneLowMagnitude) for layer in stripped.layers)
    original = [la.layer.name if isinstance(la, P.PruneLowMagnitude) else la.name
                for la in wrapped.layers]
    assert [layer.name for layer in stripped.layers] == original
    for n in masks:
        kernel = stripped.get_layer(n).get_weights()[0]
        assert np.all(kernel[masks[n] == 0] == 0.0)
        np.testing.assert_array_equal(kernel, after[n])
    np.testing.assert_array_equal(predict(stripped, name), predict(wrapped, name))


def test_pruned_entries_drift_after_a_step_and_are_zeroed_before_use():
    # Documents the tfmot behaviour described in lth_tf/keras_side/pruning/__init__.py.
    wrapped = P.wrap(build_small("tiny_cnn"))
    masks = random_masks(wrapped)
    P.set_masks(wrapped, masks)
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(sum(pruned_nonzeros(P.get_kernels(self.model), masks).values()))

    compile_and_fit(wrapped, "tiny_cnn", steps=3, callbacks=[*P.callbacks(), Probe()])
    assert all(n > 0 for n in seen)  # the optimizer moved pruned entries ...
    assert sum(pruned_nonzeros(P.get_kernels(wrapped), masks).values()) == 0  # ... fit ends masked

    # Inference masks the kernel before using it: unmask by hand, then predict.
    expected = predict(wrapped, "tiny_cnn")
    unmask_by_hand(wrapped)
    assert sum(pruned_nonzeros(P.get_kernels(wrapped), masks).values()) > 0
    x = np.random.default_rng(0).normal(size=(8, 8, 8, 3)).astype(np.float32)
    wrapped.predict(x, verbose=0)
    assert sum(pruned_nonzeros(P.get_kernels(wrapped), masks).values()) == 0
    np.testing.assert_array_equal(predict(wrapped, "tiny_cnn"), expected)
    unmask_by_hand(wrapped)
    np.testing.assert_array_equal(predict(wrapped, "tiny_cnn"), expected)  # eager call too


def test_training_forward_pass_uses_masked_kernels():
    # LeNet: no BatchNorm or dropout, so training and inference compute the same.
    wrapped = P.wrap(build_small("lenet300"))
    masks = random_masks(wrapped)
    P.set_masks(wrapped, masks)
    x = np.random.default_rng(1).normal(size=(8, 6, 6, 1)).astype(np.float32)
    y = np.arange(8) % 5
    wrapped.compile(optimizer=keras.optimizers.SGD(0.0),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    masked_loss = wrapped.evaluate(x, y, verbose=0)
    unmask_by_hand(wrapped)
    # tfmot's callback only: MaskEnforcer would re-mask before the step.
    history = wrapped.fit(x, y, batch_size=8, epochs=1, verbose=0,
                          callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    assert history.history["loss"][0] == pytest.approx(masked_loss, rel=1e-5)


def test_mask_enforcer_masks_at_train_end_without_an_epoch_end():
    wrapped = P.wrap(build_small("lenet300"))
    masks = random_masks(wrapped)
    P.set_masks(wrapped, masks)

    class StopMidEpoch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.stop_training = True

    wrapped.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(size=(32, 6, 6, 1)).astype(np.float32)
    y = np.arange(32) % 5
    wrapped.fit(x, y, batch_size=8, epochs=1, verbose=0,
                callbacks=[StopMidEpoch(), *P.callbacks()])
    assert sum(pruned_nonzeros(P.get_kernels(wrapped), masks).values()) == 0


def test_fit_without_update_pruning_step_fails():
    wrapped = P.wrap(build_small("tiny_cnn"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="UpdatePruningStep"):
        compile_and_fit(wrapped, "tiny_cnn", steps=1)


def test_set_masks_checks_its_input():
    wrapped = P.wrap(build_small("tiny_cnn"))
    shape = P.get_masks(wrapped)["conv1"].shape
    with pytest.raises(LthError, match="mask for layer 'nope'"):
        P.set_masks(wrapped, {"nope": np.ones(shape)})
    with pytest.raises(LthError, match="has shape"):
        P.set_masks(wrapped, {"conv1": np.ones((3, 3))})
    with pytest.raises(LthError, match="other than 0 and 1"):
        P.set_masks(wrapped, {"conv1": np.full(shape, 0.5)})
    assert np.all(P.get_masks(wrapped)["conv1"] == 1.0)  # nothing half-applied


def test_set_kernels_keeps_pruned_weights_at_zero():
    model = build_small("tiny_cnn")
    wrapped = P.wrap(model)
    masks = random_masks(wrapped)
    P.set_masks(wrapped, masks)
    init = {n: model.get_layer(n).get_weights()[0] for n in masks}
    P.set_kernels(wrapped, init)  # e.g. rewinding to the initial weights
    got = P.get_kernels(wrapped)
    for n in masks:
        np.testing.assert_array_equal(got[n], init[n] * masks[n])
    with pytest.raises(LthError, match="has shape"):
        P.set_kernels(wrapped, {"conv1": np.ones((2, 2))})


def test_strip_is_independent_of_the_wrapped_model():
    wrapped = P.wrap(build_small("tiny_cnn"))
    stripped = P.strip(wrapped)
    before = stripped.get_weights()
    P.set_masks(wrapped, random_masks(wrapped))
    assert all(np.array_equal(a, b) for a, b in zip(before, stripped.get_weights(), strict=True))


def test_apply_masks_reaches_a_nested_model():
    wrapped = P.wrap(build_small("tiny_cnn"))
    masks = random_masks(wrapped)
    P.set_masks(wrapped, masks)
    outer = keras.Sequential([wrapped])  # like a Distiller holding the student
    unmask_by_hand(wrapped)
    P.apply_masks(outer)
    assert sum(pruned_nonzeros(P.get_kernels(wrapped), masks).values()) == 0


@pytest.mark.parametrize("name", ["tiny_cnn", "gcn"])
def test_wrapped_model_saves_and_loads_with_its_masks(name, tmp_path):
    wrapped = P.wrap(build_small(name))
    masks = random_masks(wrapped)
    P.set_masks(wrapped, masks)
    compile_and_fit(wrapped, name, steps=2, callbacks=P.callbacks())
    with tfmot.sparsity.keras.prune_scope():
        loaded = save_and_reload(wrapped, tmp_path)
    got = P.get_masks(loaded)
    assert all(np.array_equal(got[n], masks[n]) for n in masks)
    np.testing.assert_array_equal(predict(loaded, name), predict(wrapped, name))
    loaded2 = save_and_reload(wrapped, tmp_path, custom_objects={**P.custom_objects(), **models.custom_objects()})
    np.testing.assert_array_equal(predict(loaded2, name), predict(wrapped, name))
