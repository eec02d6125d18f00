"""The Python API (lth_tf.TicketSearch) on models and data the registries do not have."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers.lottery import Probe, check_search
from helpers.models import blobs, functional_mlp, splits

import lth_tf
from lth_tf.core.errors import LthError
from lth_tf.frontends.report import write_report
from lth_tf.platform.backend import keras, tf
from lth_tf.storage import rundir

SETTINGS = {"rounds": 2, "rate": 0.5, "epochs": 2, "batch_size": 32, "controls": ["random_reinit"]}


@pytest.fixture(scope="module")
def api_run(tmp_path_factory):
    """A compiled functional model with pretrained (non-initial) weights as theta0."""
    model = functional_mlp()
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.5), loss="mse")
    # Make theta0 something no initializer would give: a pretrained start.
    model.set_weights([w + 0.25 for w in model.get_weights()])
    theta0 = model.get_weights()
    probe = Probe()
    search = lth_tf.TicketSearch(model, directory=tmp_path_factory.mktemp("api"), **SETTINGS)
    train, val, test = splits()
    summary = search.fit(train, validation_data=val, test_data=test, callbacks_factory=probe)
    return search, summary, probe, theta0


@pytest.mark.slow  # `api_run`: a whole search (TicketSearch.fit)
def test_api_run_keeps_the_lottery_invariants(api_run):
    search, _, probe, theta0 = api_run
    check_search(search.search.store, search.search.exp.prune, probe)
    # Round 0 began from the user's weights, not from a fresh initialisation.
    start = probe.starts[(0, "round")]
    kernels = [w for (role, _), w in zip(start.layout, start.weights, strict=True) if role == "kernel"]
    assert [k.shape for k in kernels] == [theta0[0].shape, theta0[2].shape]
    np.testing.assert_array_equal(kernels[0], theta0[0])
    np.testing.assert_array_equal(kernels[1], theta0[2])


@pytest.mark.slow  # `api_run`: a whole search (TicketSearch.fit)
def test_api_takes_the_compiled_optimizer(api_run):
    search = api_run[0]
    t = search.search.exp.train
    assert (t.optimizer, t.learning_rate, t.momentum) == ("sgd", 0.05, 0.5)


@pytest.mark.slow  # `api_run`: a whole search (TicketSearch.fit)
def test_api_summary_controls_and_ticket(api_run, tmp_path):
    search, summary, _, _ = api_run
    assert [r["round"] for r in summary["rounds"]] == [0, 1, 2]
    assert [c["kind"] for c in summary["controls"]] == ["random_reinit"]
    ticket = search.ticket_model(round=2)
    assert ticket.name and ticket.output_shape == (None, 4)
    masks = search.search.store.load_round(2)[1]
    np.testing.assert_array_equal(ticket.get_layer("h1").kernel.numpy() == 0, masks["h1"] == 0)
    out = search.export(tmp_path / "ticket", round=2)
    assert (out / "saved_model.pb").is_file()


@pytest.mark.slow  # `api_run`: a whole search (TicketSearch.fit)
def test_api_export_sparse(api_run, tmp_path):
    """format="sparse" from the Python API: the generic signature gives the ticket's logits."""
    from lth_tf.platform.backend import tf

    search = api_run[0]
    out = search.export(tmp_path / "sparse", round=2, format="sparse")
    served = tf.saved_model.load(str(out)).signatures["serving_default"]
    (name,) = served.structured_input_signature[1]
    x = splits()[2][0]
    (got,) = served(**{name: tf.constant(x)}).values()
    np.testing.assert_allclose(got.numpy(), search.ticket_model(round=2)(x).numpy(), atol=1e-5)


@pytest.mark.slow  # `api_run`, then report and export by the CLI in subprocesses
def test_api_run_dir_works_with_the_cli(api_run, tmp_path):
    """report and export on a run directory the Python API wrote."""
    search = api_run[0]
    env_run = [sys.executable, "-m", "lth_tf.frontends.cli.main"]
    rep = subprocess.run([*env_run, "report", str(search.run_dir)], capture_output=True, text=True, check=False)
    assert rep.returncode == 0, rep.stderr
    assert "round" in rep.stdout
    exp = subprocess.run(
        [*env_run, "export", str(search.run_dir), "--round", "1", "--out", str(tmp_path / "t")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert exp.returncode == 0, exp.stderr
    loaded = tf.saved_model.load(str(tmp_path / "t"))
    x = blobs(8, 5)[0]
    want = search.ticket_model(round=1)(x).numpy()
    got = next(iter(loaded.signatures.values()))(tf.constant(x))
    np.testing.assert_allclose(next(iter(got.values())).numpy(), want, atol=1e-5)


@pytest.mark.slow  # `api_run`: a whole search (TicketSearch.fit)
def test_api_resumes_without_retraining(api_run):
    """The same model, settings and data find the same run directory and train nothing."""
    search = api_run[0]
    model = functional_mlp()
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.5), loss="mse")
    model.set_weights([w + 0.25 for w in model.get_weights()])
    train, val, test = splits()
    events = []
    rerun = lth_tf.TicketSearch(model, directory=search.directory, **SETTINGS)
    rerun.fit(train, validation_data=val, test_data=test, sink=events.append)
    assert rerun.run_dir == search.run_dir
    trained = [e for e in events if e["event"] in ("round_started", "control_finished")]
    assert not trained and any(e["event"] == "run_finished" for e in events)


@pytest.mark.slow  # `api_run`: a whole search (TicketSearch.fit)
def test_random_reinit_control_gets_fresh_weights(api_run):
    """theta0 is fixed for a user's model, so the control must re-initialise, not copy it."""
    probe = api_run[2]
    control = probe.starts[(2, "random_reinit")]
    ticket = probe.starts[(2, "round")]
    np.testing.assert_array_equal(  # the same mask...
        control.masks["h1"], ticket.masks["h1"]
    )
    for (role, name), a, b in zip(control.layout, control.weights, ticket.weights, strict=True):
        if role == "kernel":  # ...on other weights
            assert not np.array_equal(a, b), name


@pytest.mark.slow  # a whole search (TicketSearch.fit)
def test_run_started_lists_what_stays_dense(tmp_path):
    """A layer nothing can prune is listed, and a softmax head is noted and removed."""
    keras.utils.set_random_seed(0)
    x = keras.Input((12,))
    h = keras.layers.Dense(8, name="h")(x)
    h = keras.layers.BatchNormalization(name="bn")(h)
    out = keras.layers.Dense(4, activation="softmax", name="probs")(h)
    events = []
    search = lth_tf.TicketSearch(keras.Model(x, out), directory=tmp_path, rounds=1, epochs=1)
    train, val, test = splits()
    search.fit(train, validation_data=val, test_data=test, sink=events.append, export=False)
    started = next(e for e in events if e["event"] == "run_started")
    assert {"name": "bn", "class": "BatchNormalization"} in started["unpruned_layers"]
    assert any("softmax" in note for note in started["model_notes"])
    report = write_report(search.run_dir, plots=False)
    assert "bn (BatchNormalization)" in report and "model change:" in report
    # Logits, not probabilities: rows of the ticket's outputs do not sum to 1.
    sums = search.ticket_model(round=1)(train[0][:8]).numpy().sum(axis=1)
    assert not np.allclose(sums, 1.0)


@pytest.mark.slow  # a whole search (TicketSearch.fit)
def test_sequential_factory_and_tf_data(tmp_path):
    """An unbuilt Sequential from a factory, fed with tf.data datasets."""

    def factory(seed):
        keras.utils.set_random_seed(seed)
        return keras.Sequential(
            [keras.layers.Dense(8, activation="relu"), keras.layers.Dense(4)], name="seq"
        )

    train, val, test = splits()
    ds = [tf.data.Dataset.from_tensor_slices(s).batch(32) for s in (train, val, test)]
    probe = Probe()
    search = lth_tf.TicketSearch(factory, directory=tmp_path, **SETTINGS)
    summary = search.fit(ds[0], validation_data=ds[1], test_data=ds[2], callbacks_factory=probe)
    check_search(search.search.store, search.search.exp.prune, probe)
    assert summary["status"] == "finished"
    assert json.loads(rundir.summary_path(search.run_dir).read_text())["rounds"][2]["sparsity"] == 0.75


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"rounds": 2, "colour": "red"}, "colour"),
        ({"rate": 1.5}, "prune.rate"),
        ({"settings": {"prune.exclude": "nope"}}, "nope"),
    ],
)
def test_bad_settings_are_one_line_errors(bad, words, tmp_path):
    with pytest.raises(LthError, match=words) as e:
        search = lth_tf.TicketSearch(functional_mlp(), directory=tmp_path, **bad)
        search.fit(*splits())
    assert "\n" not in str(e.value)
    assert not any(tmp_path.iterdir())


def test_bad_data_is_a_one_line_error(tmp_path):
    search = lth_tf.TicketSearch(functional_mlp(), directory=tmp_path, **SETTINGS)
    x, y = blobs(10, 0)
    with pytest.raises(LthError, match="same non-zero number"):
        search.fit((x, y[:5]), validation_data=(x, y), test_data=(x, y))
    with pytest.raises(LthError, match="three splits"):
        search.fit((x, y))
    assert not any(tmp_path.iterdir())  # nothing written for bad input


def test_fit_and_rounds_share_one_keyword_list(tmp_path):
    """fit and rounds take the RunHooks keywords; another keyword is the TypeError Python
    gives for a named one, at the call (rounds is lazy otherwise) and before anything is written."""
    from lth_tf.frontends.api import RunHooks

    assert set(RunHooks.__annotations__) == {"sink", "stop", "callbacks_factory"}
    search = lth_tf.TicketSearch(functional_mlp(), directory=tmp_path, **SETTINGS)
    for method in ("fit", "rounds"):
        with pytest.raises(TypeError, match=rf"TicketSearch\.{method}\(\) got an unexpected keyword argument 'sinks'"):
            getattr(search, method)(*splits(), sinks=print)
    with pytest.raises(TypeError):
        search.fit(*splits(), None)  # the hooks are keywords only
    assert not any(tmp_path.iterdir())
