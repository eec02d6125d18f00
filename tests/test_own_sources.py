"""The engine on sources the registries do not have, driven by config names:
`py:` factories, `file:` saved models (pretrained theta0), `folder:` image data,
and Citeseer through the GCN. Each run is held to the registry models' rules
(tests/helpers/lottery.py)."""

from __future__ import annotations

import os
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers.data import make_folder
from helpers.lottery import Probe, check_search

from lth_tf.core import config as C
from lth_tf.platform.backend import keras
from lth_tf.search.lottery import LotterySearch

SMALL = ["prune.rounds=2", "prune.rate=0.5", "train.epochs=1", "prune.controls=random_reinit"]

FACTORY = '''
import tf_keras as keras

def build(input_shape, num_classes, seed):
    """Layers the registry models do not use: separable, depthwise and 1-D convolutions."""
    x = keras.Input(input_shape)
    h = keras.layers.SeparableConv2D(6, 3, padding="same", activation="relu", name="sep")(x)
    h = keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise")(h)
    h = keras.layers.Reshape((-1, 6))(h)
    h = keras.layers.Conv1D(8, 3, activation="relu", name="conv1d")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(x, keras.layers.Dense(num_classes, name="head")(h), name="user_net")
'''


def _run(exp: C.Experiment, out: Path) -> tuple[LotterySearch, Probe]:
    probe = Probe()
    search = LotterySearch(exp, out=out, callbacks_factory=probe)
    for _ in search.rounds():
        pass
    search.finish(export=False)
    return search, probe


@pytest.fixture
def image_folder(tmp_path) -> Path:
    return make_folder(tmp_path / "images", {"cat": 14, "dog": 14, "owl": 14})


@pytest.mark.slow  # a whole search
def test_py_factory_on_an_image_folder(tmp_path, image_folder, monkeypatch):
    (tmp_path / "my_models.py").write_text(textwrap.dedent(FACTORY))
    monkeypatch.chdir(tmp_path)
    exp = C.resolve(
        "smoke",
        overrides=[
            *SMALL,
            "model.name=py:my_models:build",
            f"data.name=folder:{image_folder}",
            "data.image_size=8",
        ],
    )
    search, probe = _run(exp, tmp_path / "runs")
    check_search(search.store, exp.prune, probe)
    masks = search.store.load_round(2)[1]
    assert set(masks) == {"sep", "conv1d", "head"}  # depthwise: nothing tfmot prunes
    started = next(e for e in _events(search) if e["event"] == "run_started")
    assert {"name": "depthwise", "class": "DepthwiseConv2D"} in started["unpruned_layers"]


@pytest.mark.slow  # a whole search
def test_pretrained_keras_file_is_theta0(tmp_path, image_folder):
    keras.utils.set_random_seed(3)
    x = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, activation="relu", name="c")(x)
    h = keras.layers.Flatten()(h)
    model = keras.Model(x, keras.layers.Dense(3, activation="softmax", name="d")(h))
    pretrained = [w * 1.5 + 0.1 for w in model.get_weights()]  # no initializer gives these
    model.set_weights(pretrained)
    path = tmp_path / "pretrained.keras"
    model.save(path)
    exp = C.resolve(
        "smoke",
        overrides=[*SMALL, f"model.name=file:{path}", f"data.name=folder:{image_folder}", "data.image_size=8"],
    )
    search, probe = _run(exp, tmp_path / "runs")
    check_search(search.store, exp.prune, probe)
    start = probe.starts[(0, "round")]
    kernels = {n: w for (role, n), w in zip(start.layout, start.weights, strict=True) if role == "kernel"}
    np.testing.assert_array_equal(kernels["c"], pretrained[0])
    np.testing.assert_array_equal(kernels["d"], pretrained[2])
    # The control re-initialises: the same mask on weights that are not theta0.
    ctrl = probe.starts[(2, "random_reinit")]
    ctrl_k = {n: w for (role, n), w in zip(ctrl.layout, ctrl.weights, strict=True) if role == "kernel"}
    assert not np.array_equal(ctrl_k["c"], kernels["c"] * ctrl.masks["c"])


def test_changed_model_file_is_another_run(tmp_path):
    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dense(2)(x))
    path = tmp_path / "m.keras"
    model.save(path)
    exp = C.resolve("smoke", overrides=[f"model.name=file:{path}"])
    before = exp.run_name()
    model.set_weights([w + 1 for w in model.get_weights()])
    model.save(path)
    assert exp.run_name() != before


@pytest.mark.slow  # the real Citeseer files
@pytest.mark.skipif(not os.environ.get("LTH_DATA_DIR"), reason="needs LTH_DATA_DIR with citation/")
def test_citeseer_through_the_gcn(tmp_path):
    exp = C.resolve("cora-gcn", overrides=["data.name=citeseer", *SMALL, "train.epochs=5"])
    exp = replace(exp, preset=None)
    search, probe = _run(exp, tmp_path / "runs")
    check_search(search.store, exp.prune, probe)
    assert search.data.num_classes == 6 and search.data.input_shape == (3703,)


def _events(search):
    import json

    from lth_tf.storage import rundir

    return [json.loads(line) for line in rundir.events_path(search.run_dir).read_text().splitlines()]


def test_preflight_counts_every_layer_kind_it_prunes(tmp_path, monkeypatch):
    """The CLI's pre-run layer check reads separable and 1-D convolutions too."""
    from lth_tf.search import preflight

    (tmp_path / "my_models.py").write_text(textwrap.dedent(FACTORY))
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_models

    model = my_models.build((8, 8, 3), 3, 0)
    sizes = preflight.prunable_layer_sizes(model)
    assert sizes == {
        "sep": model.get_layer("sep").pointwise_kernel.shape.num_elements(),
        "conv1d": model.get_layer("conv1d").kernel.shape.num_elements(),
        "head": model.get_layer("head").kernel.shape.num_elements(),
    }
