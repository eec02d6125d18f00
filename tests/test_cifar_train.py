"""A tiny ResNet-18 (width 8) learns on the real CIFAR-10 copy (slow: ~1 min)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # the real CIFAR-10 copy, 300 steps of ResNet-18

DATA_DIR = os.environ.get("LTH_DATA_DIR")


@pytest.mark.skipif(not DATA_DIR, reason="LTH_DATA_DIR not set (needs cifar10-jpeg.tar.gz)")
def test_resnet18_width8_loss_goes_down_on_cifar(capsys):
    from lth_tf.core import config as C
    from lth_tf.keras_side import data as datasets
    from lth_tf.keras_side import models
    from lth_tf.keras_side.training.metrics import compile_plain
    from lth_tf.platform.backend import keras

    data = datasets.load(C.Data(name="cifar10"), DATA_DIR, seed=0)
    model = models.build(C.Model(name="resnet18", width=8), data.input_shape, 10, seed=0)
    compile_plain(model, keras.optimizers.SGD(0.05, momentum=0.9))
    steps = 300
    val = data.eval_dataset("val", 250).take(4)  # 1,000 held-out images
    before = model.evaluate(val, verbose=0, return_dict=True)
    t0 = time.time()
    history = model.fit(data.train_dataset(128, seed=0).take(steps), epochs=1, verbose=0)
    seconds = time.time() - t0
    after = model.evaluate(val, verbose=0, return_dict=True)
    with capsys.disabled():
        print(f"\nresnet18 w8: {steps} steps in {seconds:.1f}s ({steps * 128 / seconds:.0f} img/s); "
              f"val loss {before['loss']:.3f} -> {after['loss']:.3f}, "
              f"val acc {before['acc']:.3f} -> {after['acc']:.3f}")
    assert np.isfinite(history.history["loss"][-1])
    assert after["loss"] < before["loss"] - 0.3, (before, after)
    assert after["acc"] > 0.3, after  # chance is 0.1
