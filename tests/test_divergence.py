"""Training that diverges, and data that would make it diverge (issue 28 items 1 and 7).

A NaN or inf training loss or weight stops the round with one line naming the
round, the epoch and the fix; the run is marked failed in summary.json and
events.jsonl and the rounds already stored are untouched. NaN or inf in the
arrays given to `TicketSearch.fit`, and labels that do not cover the model's
outputs, are refused before anything is written or trained, with the count and
where.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.cli import tree
from helpers.models import functional_mlp, splits

import lth_tf
from lth_tf.core.errors import LthError
from lth_tf.platform.backend import keras
from lth_tf.storage import rundir

QUICK = {"rounds": 1, "rate": 0.5, "epochs": 2, "batch_size": 64, "controls": []}


def one_line_error(fn) -> str:
    with pytest.raises(LthError) as e:
        fn()
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


# -- item 7: the data, before anything trains ---------------------------------------------------
@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda x: x.__setitem__((5, 3), np.nan), ["train", "1 NaN", "row 5"]),
        (lambda x: x.__setitem__((slice(None), 7), np.inf), ["train", "192 inf", "column 7"]),
        (lambda x: x.__setitem__((0, 0), -np.inf), ["train", "1 inf", "row 0"]),
    ],
)
def test_nan_or_inf_in_x_is_refused_before_anything_is_written(tmp_path, damage, words):
    (x, y), val, test = splits()
    x = x.copy()
    damage(x)
    search = lth_tf.TicketSearch(functional_mlp(), directory=tmp_path / "runs", **QUICK)
    msg = one_line_error(lambda: search.fit((x, y), validation_data=val, test_data=test))
    for w in words:
        assert w in msg, msg
    assert "np.nan_to_num" in msg or "drop" in msg
    assert not (tmp_path / "runs").exists()


def test_nan_in_the_validation_split_names_that_split(tmp_path):
    train, (xv, yv), test = splits()
    xv = xv.copy()
    xv[10:13, 0] = np.nan
    search = lth_tf.TicketSearch(functional_mlp(), directory=tmp_path / "runs", **QUICK)
    msg = one_line_error(lambda: search.fit(train, validation_data=(xv, yv), test_data=test))
    assert "validation" in msg and "3 NaN" in msg and "row 10" in msg


def test_labels_that_miss_a_class_of_the_model_name_the_labels(tmp_path):
    """A 4-output model given labels 0..1 only: the labels are the likelier mistake."""
    (x, y), (xv, yv), (xt, yt) = splits()
    keep = [(a[b < 2], b[b < 2]) for a, b in ((x, y), (xv, yv), (xt, yt))]
    search = lth_tf.TicketSearch(functional_mlp(), directory=tmp_path / "runs", **QUICK)
    msg = one_line_error(lambda: search.fit(keep[0], validation_data=keep[1], test_data=keep[2]))
    assert "labels" in msg and "0..1" in msg and "4 outputs" in msg, msg
    assert msg.index("labels") < msg.index("Dense(2)"), msg  # the labels first, the model second
    assert not (tmp_path / "runs").exists()


def test_labels_beyond_the_models_outputs_are_counted(tmp_path):
    (x, y), val, test = splits()
    y = y.copy()
    y[:7] = 6
    search = lth_tf.TicketSearch(functional_mlp(), directory=tmp_path / "runs", **QUICK)
    msg = one_line_error(lambda: search.fit((x, y), validation_data=val, test_data=test))
    assert "7 train labels" in msg and "4 outputs" in msg, msg


# -- item 1: divergence during training -----------------------------------------------------------
def test_the_divergence_check_names_round_epoch_batch_and_rate():
    from lth_tf.keras_side.training.callbacks import Diverged, StopOnDivergence

    (x, y), _, _ = splits()
    model = functional_mlp()
    model.compile(keras.optimizers.SGD(1e30), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    check = StopOnDivergence(3, 5, "lower train.learning_rate (now 1e+30)")
    with pytest.raises(Diverged) as e:
        model.fit(x, y, batch_size=32, epochs=5, callbacks=[check], verbose=0)
    msg = str(e.value)
    assert msg.startswith("round 3 diverged in epoch 1 of 5: the training loss is") and "at batch" in msg, msg
    assert "lower train.learning_rate (now 1e+30)" in msg and "check the data" in msg and "\n" not in msg
    assert isinstance(e.value, LthError)  # the CLI prints it as one line, exit 2


def test_non_finite_weights_with_a_finite_loss_are_caught_at_the_epoch_end():
    from lth_tf.keras_side.training.callbacks import Diverged, StopOnDivergence

    (x, y), _, _ = splits()
    model = functional_mlp()
    model.compile(keras.optimizers.SGD(0.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.get_layer("h1").bias.assign(np.full(16, -np.inf, np.float32))  # relu(-inf) = 0: the loss stays finite
    with pytest.raises(Diverged, match="weights of h1/bias"):
        model.fit(x[:32], y[:32], batch_size=32, epochs=1, callbacks=[StopOnDivergence(0, 1, "x")], verbose=0)


@pytest.mark.slow  # two searches train (TicketSearch.fit)
def test_a_diverging_round_stops_with_one_line_and_the_run_is_marked_failed(tmp_path):
    train, val, test = splits()
    good = lth_tf.TicketSearch(functional_mlp(), directory=tmp_path / "runs", name="lr", **QUICK)
    rounds = good.rounds(train, val, test)
    next(rounds)  # round 0 trains and is stored with a sane learning rate
    run_dir = good.run_dir
    stored = tree(rundir.round_dir(run_dir, 0))
    rounds.close()

    # The same model and data with a learning rate that blows the weights up: the settings
    # differ, so it is another run, whose round 0 diverges.
    bad = lth_tf.TicketSearch(functional_mlp(), directory=tmp_path / "runs", name="lr",
                              **{**QUICK, "learning_rate": 1e30})  # fmt: skip
    msg = one_line_error(lambda: bad.fit(train, validation_data=val, test_data=test))
    assert "round 0" in msg and "epoch 1" in msg, msg
    assert "not finite" in msg and "learning_rate" in msg and "1e+30" in msg, msg
    bad_dir = bad.run_dir
    assert bad_dir != run_dir  # the settings differ: another run, the good one untouched
    assert tree(rundir.round_dir(run_dir, 0)) == stored
    summary = json.loads(rundir.summary_path(bad_dir).read_text())
    assert summary["status"] == "failed" and summary["rounds"] == []
    events = [json.loads(line) for line in rundir.events_path(bad_dir).read_text().splitlines()]
    failed = [e for e in events if e["event"] == "run_failed"]
    assert failed and failed[-1]["round"] == 0 and "not finite" in failed[-1]["error"]
    assert rundir.completed_rounds(bad_dir) == []


@pytest.mark.slow  # a search trains two rounds (TicketSearch.fit)
def test_a_round_that_diverges_later_leaves_the_earlier_rounds(tmp_path):
    """Divergence in round 1 (weights made NaN by a callback): round 0 stays as stored."""
    train, val, test = splits()

    class Poison(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            w = self.model.get_weights()
            w[0] = np.full_like(w[0], np.nan)
            self.model.set_weights(w)

    def factory(r, kind):
        return [Poison()] if r == 1 else []

    search = lth_tf.TicketSearch(functional_mlp(), directory=tmp_path / "runs", **QUICK)
    msg = one_line_error(lambda: search.fit(train, validation_data=val, test_data=test,
                                            callbacks_factory=factory))  # fmt: skip
    assert "round 1" in msg and "epoch 1" in msg and "weights" in msg, msg
    run_dir = search.run_dir
    assert rundir.completed_rounds(run_dir) == [0]
    summary = json.loads(rundir.summary_path(run_dir).read_text())
    assert summary["status"] == "failed" and [r["round"] for r in summary["rounds"]] == [0]


@pytest.mark.slow  # lth-tf run in a subprocess
def test_cli_run_with_a_huge_learning_rate_ends_in_one_error_line(tmp_path):
    from helpers.cli import SMOKE, lth

    r = lth("run", *SMOKE, "--set", "train.learning_rate=1e30", "--out", "runs", "--quiet", tmp=tmp_path)
    assert r.code == 2 and r.out == "", r
    last = r.err.splitlines()[-1]
    assert last.startswith("lth-tf: error: round 0 diverged in epoch 1"), r.err
    assert "lower train.learning_rate (now 1e+30)" in last
    assert "Traceback" not in r.err
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads(rundir.summary_path(run_dir).read_text())["status"] == "failed"
    # the old run stays readable: `lth-tf report` shows it
    rep = lth("report", str(run_dir), tmp=tmp_path)
    assert rep.code == 0 and "status: failed" in rep.out, rep
