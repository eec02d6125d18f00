"""Messages that said the wrong thing (issue 28, "Messages that mislead").

A run whose config.toml was edited by hand is refused on resume (it was resumed
and reported finished under the old hash); a model ending in a sigmoid is made
linear with a note, and one ending in a softmax or sigmoid lth_tf cannot see (a
Lambda) is refused; summary.json and run_started name a preset only while the
run trains that preset's model and data; a model with no prunable layer is
refused before anything is written; data files of the wrong kind are named.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.keras_side import models
from lth_tf.platform.backend import keras, tf
from lth_tf.search import preflight
from lth_tf.storage import rundir, store

L = keras.layers
SHAPE, CLASSES = (6, 6, 2), 3


def refused(fn, *words: str) -> str:
    with pytest.raises(LthError) as e:
        fn()
    msg = str(e.value)
    assert "\n" not in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


# -- a hand-edited config.toml -------------------------------------------------------------------
def test_a_hand_edited_config_is_not_resumed(smoke_run):
    config = rundir.config_path(smoke_run)
    exp = rundir.read_experiment(smoke_run)
    config.write_text(config.read_text().replace("epochs = 1", "epochs = 3"))
    msg = refused(lambda: store.RunStore(smoke_run).claim(exp.to_toml(), exp.hash()),
                  str(config), "edited", "restore")  # fmt: skip
    assert "rerun" not in msg


def test_an_unedited_config_resumes(smoke_run):
    exp = rundir.read_experiment(smoke_run)
    assert store.RunStore(smoke_run).claim(exp.to_toml(), exp.hash()) is True


def test_the_cli_refuses_to_resume_a_hand_edited_run(smoke_run, tmp_path, capsys):
    from helpers.cli import SMOKE

    from lth_tf.frontends.cli import main as cli

    config = rundir.config_path(smoke_run)
    config.write_text(config.read_text().replace("rate = 0.5", "rate = 0.3"))
    summary = rundir.summary_path(smoke_run).read_text()
    assert cli.main(["run", *SMOKE, "--out", str(smoke_run.parent), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "was edited after the run wrote it" in err, err
    assert rundir.summary_path(smoke_run).read_text() == summary  # not reported finished again


# -- heads that give probabilities ------------------------------------------------------------------
def small(activation: str | None = None, head=None) -> keras.Model:
    inp = keras.Input(SHAPE)
    x = L.Flatten(name="flat")(L.Conv2D(3, 3, activation="relu", name="conv")(inp))
    out = L.Dense(CLASSES, activation=activation, name="head")(x)
    return keras.Model(inp, head(out) if head else out)


def test_a_sigmoid_head_is_made_linear_with_a_note():
    built = models.from_keras(small("sigmoid"))(SHAPE, CLASSES, 0)
    assert len(built.notes) == 1 and "sigmoid" in built.notes[0] and "linear" in built.notes[0]
    assert built.model.get_layer("head").activation.__name__ == "linear"


def test_a_final_sigmoid_activation_layer_is_dropped():
    built = models.from_keras(small(head=L.Activation("sigmoid", name="probs")))(SHAPE, CLASSES, 0)
    assert "probs" in built.notes[0] and built.model.layers[-1].name == "head"


@pytest.mark.parametrize("fn, words", [(tf.nn.softmax, "sum to 1"), (tf.nn.sigmoid, "[0, 1]")])
def test_a_head_lth_tf_cannot_see_is_refused_by_its_outputs(fn, words):
    user = small(head=L.Lambda(fn, name="squash"))
    refused(lambda: models.from_keras(user)(SHAPE, CLASSES, 0), words, "'squash'", "Lambda", "logits")


def test_a_relu_or_plain_head_is_left_alone():
    assert models.from_keras(small())(SHAPE, CLASSES, 0).notes == ()
    # outputs in [0, 1] that no squash gives: all zeros (a zero-initialised head), ReLU's exact zeros
    zero = small()
    zero.get_layer("head").set_weights([np.zeros(w.shape, "float32") for w in zero.get_layer("head").weights])
    assert models.from_keras(zero)(SHAPE, CLASSES, 0).notes == ()
    clipped = small(head=L.Lambda(lambda t: tf.clip_by_value(t, 0.0, 1.0), name="clip"))
    models.from_keras(clipped)(SHAPE, CLASSES, 0)


# -- the preset a run names --------------------------------------------------------------------------
def test_a_run_names_the_preset_only_while_it_trains_it():
    assert C.resolve("smoke").trained_preset == "smoke"
    assert C.resolve("smoke", overrides=["train.epochs=3"]).trained_preset == "smoke"
    cora = C.resolve("smoke", overrides=["data.name=cora", "model.name=gcn"])
    assert cora.preset == "smoke" and cora.trained_preset is None


def test_summary_and_run_started_name_no_stale_preset(tmp_path):
    """A whole search of a model a preset does not train, started from that preset."""
    from lth_tf.core.events import ListSink
    from lth_tf.search.lottery import LotterySearch

    exp = C.resolve("smoke", overrides=["model.name=lenet300", "prune.rounds=0", "train.epochs=1",
                                        "data.val_size=16", "prune.controls="])  # fmt: skip
    sink = ListSink()
    search = LotterySearch(exp, out=tmp_path, sink=sink)
    summary = search.run()
    assert summary["preset"] is None and sink.named("run_started")[0]["preset"] is None
    assert json.loads(rundir.summary_path(search.run_dir).read_text())["preset"] is None


# -- nothing to prune --------------------------------------------------------------------------------
def test_a_model_with_no_prunable_layer_is_refused_before_anything_is_written():
    exp = C.resolve("smoke")
    refused(lambda: preflight.check_layers(exp, {}), "no layer lth-tf can prune", "--rounds 0")
    preflight.check_layers(C.resolve("smoke", overrides=["prune.rounds=0"]), {})  # dense only: fine


def test_a_py_factory_without_prunable_layers_is_refused_by_the_cli(tmp_path, capsys, monkeypatch):
    from lth_tf.frontends.cli import main as cli

    (tmp_path / "flat_models.py").write_text(
        "import tf_keras as keras\n"
        "def build(input_shape, num_classes, seed):\n"
        "    inp = keras.Input(input_shape)\n"
        "    x = keras.layers.Flatten()(inp)[:, :num_classes]\n"
        "    return keras.Model(inp, keras.layers.BatchNormalization()(x))\n"
    )
    monkeypatch.chdir(tmp_path)
    code = cli.main(["run", "--preset", "smoke", "--set", "model.name=py:flat_models:build",
                     "--out", str(tmp_path / "runs")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "no layer lth-tf can prune" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()


# -- data files of the wrong kind ----------------------------------------------------------------
def test_a_citation_file_that_is_a_folder_is_named(tmp_path):
    from lth_tf.keras_side.data import planetoid

    folder = tmp_path / "citation"
    folder.mkdir()
    for s in planetoid.SUFFIXES:
        (folder / planetoid.file_name("cora", s)).write_bytes(b"x")
    (folder / planetoid.file_name("cora", "x")).unlink()
    (folder / planetoid.file_name("cora", "x")).mkdir()
    refused(lambda: planetoid.read(folder, "cora"), "ind.cora.x is a folder, not a file")


def test_a_cifar_archive_that_is_a_fifo_is_named_not_opened(tmp_path):
    from lth_tf.keras_side.data import cifar10

    os.mkfifo(tmp_path / cifar10.ARCHIVE)
    refused(lambda: cifar10.read_arrays(tmp_path), cifar10.ARCHIVE, "FIFO")
    (tmp_path / "file").write_text("x")
    refused(lambda: cifar10.read_arrays(tmp_path / "file"), "is a file, not a folder")
