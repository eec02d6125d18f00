"""The export marker's `cost` and `latency` (lth_tf/export/latency.py, `flops.served_cost`).

The clock loop first, with a fake clock (no TensorFlow): warm-up untimed, calls
interleaved, the budget and the call cap bound it, at least one timed round. Then
exports of tiny_conv (tests/helpers/models.py): a channel-pruned model narrowed, and a
weights ticket exported dense and sparse; the marker's params and MACs must equal a
count made here from the written model's own weights (not through lth_tf.keras_side.flops)
and a hand count, its latency must be positive at batch 1 and 256 next to this
machine's CPU, and `timing=False` must write a null latency with the reason.
A smoke run through `lth-tf export` (slow) prints the cost line and the ratio against
the dense export timed beside it, and `--no-timing` prints neither timing. The ticket a
run writes at its end: `lth-tf run --no-timing` and `TicketSearch.fit(timing=False)` leave
its latency null with the reason (the run prints it in the same cost line), without
them it is measured.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json

import numpy as np
import pytest
from helpers.models import tiny_conv

from lth_tf.export import latency

POSITIONS = {"conv1": 36, "conv2": 36, "dense": 1, "output": 1}  # tiny_conv: 6x6 "same" convs


# -- the clock loop (pure) -----------------------------------------------------------------------
class FakeClock:
    """Each call of a timed function advances the clock by its cost; reading it costs nothing."""

    def __init__(self) -> None:
        self.now = 0.0
        self.log: list[str] = []

    def __call__(self) -> float:
        return self.now

    def call(self, name: str, cost: float):
        def run() -> None:
            self.log.append(name)
            self.now += cost

        return run


def test_interleaved_warms_up_untimed_then_alternates_until_the_budget():
    clock = FakeClock()
    calls = {"a": clock.call("a", 0.1), "b": clock.call("b", 0.4)}
    times = latency.interleaved(calls, budget=2.0, warmup=1, max_calls=100, clock=clock)
    # one warm-up round, then rounds of 0.5 s until 2.0 s are spent: 4 timed rounds
    assert clock.log == ["a", "b"] * 5
    assert times == {"a": [pytest.approx(0.1)] * 4, "b": [pytest.approx(0.4)] * 4}
    assert latency.medians(times) == {"a": pytest.approx(0.1), "b": pytest.approx(0.4)}


def test_interleaved_stops_at_the_call_cap_and_times_one_round_past_the_budget():
    clock = FakeClock()
    assert len(latency.interleaved({0: clock.call("x", 1e-6)}, budget=5.0, max_calls=7, clock=clock)[0]) == 7
    slow = FakeClock()
    times = latency.interleaved({0: slow.call("x", 10.0)}, budget=1.0, warmup=2, clock=slow)
    assert times == {0: [10.0]} and slow.log == ["x"] * 3  # at least one timed call


def test_latency_text_names_the_runs_and_the_machine_or_the_reason():
    lat = {"runs": [{"batch": 1, "median_seconds": 0.00123}, {"batch": 256, "median_seconds": 0.5}],
           "machine": {"cpu": "Some CPU", "cores": 2, "tensorflow": "2.99"}}
    assert latency.text(lat) == "latency b1 1.23 ms, b256 500 ms (Some CPU, 2 cores, TF 2.99)"
    graph = {"runs": [{"batch": 2708, "whole_graph": True, "median_seconds": 0.01}], "machine": {}}
    assert latency.text(graph).startswith("latency whole graph (2708 nodes) 10 ms")
    assert latency.text(None, latency.NOT_TIMED) == f"latency not measured ({latency.NOT_TIMED})"


# -- exports of tiny_conv -------------------------------------------------------------------------
def _stored(model) -> tuple[int, int]:
    """(weights the model stores, nonzero ones), counted here from its weights."""
    values = [np.asarray(w.numpy()) for w in model.weights]
    return sum(v.size for v in values), sum(int(np.count_nonzero(v)) for v in values)


def _macs(model) -> tuple[int, int]:
    """(MACs per image of every kernel entry, of the nonzero ones), counted here."""
    dense = nonzero = 0
    for layer in model.layers:
        if layer.name in POSITIONS:
            k = np.asarray(layer.kernel.numpy())
            dense += k.size * POSITIONS[layer.name]
            nonzero += int(np.count_nonzero(k)) * POSITIONS[layer.name]
    return dense, nonzero


def _check_latency(marker):
    from lth_tf.platform.backend import tf
    from lth_tf.platform.speed import Cpu

    lat = marker["latency"]
    assert lat["signature"] == "serving_default"
    assert [r["batch"] for r in lat["runs"]] == [1, latency.LARGE_BATCH]
    for run in lat["runs"]:
        assert run["median_seconds"] > 0 and 1 <= run["calls"] <= latency.MAX_CALLS
    assert 0 < lat["seconds_spent"]
    cpu = Cpu.read()
    m = lat["machine"]
    assert m["cpu"] == (cpu.model or "unknown") and m["flags"] == list(cpu.flags) and m["cores"] == cpu.cores >= 1
    assert m["tensorflow"] == tf.__version__ and isinstance(m["onednn"], bool)
    age = datetime.datetime.now(datetime.UTC) - datetime.datetime.fromisoformat(m["date"])
    assert datetime.timedelta(0) <= age < datetime.timedelta(minutes=10)
    assert "latency_skipped" not in marker


@pytest.fixture(scope="module")
def channel_pruned():
    """tiny_conv with conv1 3/4, conv2 3/5, dense 3/6 channels kept (as tests/test_narrow.py)."""
    from lth_tf.core import masks as M
    from lth_tf.core.masks import channels as CH
    from lth_tf.keras_side import pruning as P
    from lth_tf.keras_side.narrow import narrow
    from lth_tf.platform.backend import keras

    wrapped = P.wrap(tiny_conv(keras))
    keep = {"conv1": np.array([1, 0, 1, 1], bool), "conv2": np.array([0, 1, 1, 0, 1], bool),
            "dense": np.array([1, 1, 0, 0, 1, 0], bool)}
    P.set_masks(wrapped, CH.masks_from_keep(M.ones_like(P.get_kernels(wrapped)), P.channel_plan(wrapped), keep))
    return wrapped, narrow(wrapped)


def test_a_narrow_export_records_the_narrowed_models_params_macs_and_latency(channel_pruned, tmp_path):
    from lth_tf.export import description, export_savedmodel

    _, small = channel_pruned
    marker = description(export_savedmodel(small, tmp_path / "narrow", format="narrow"))
    params, nonzero = _stored(small)
    macs, nonzero_macs = _macs(small)
    hand_params = (3 * 3 * 3 * 3 + 3) + 4 * 3 + (3 * 3 * 3 * 3 + 3) + (3 * 3 * 3 * 3 + 3) + (3 * 3 + 3)
    hand_macs = 3 * 3 * 3 * 3 * 36 + 3 * 3 * 3 * 3 * 36 + 27 * 3 + 3 * 3
    assert params == hand_params and macs == hand_macs  # the count here agrees with the hand count
    assert marker["cost"] == {"params": params, "nonzero_params": nonzero, "macs": macs,
                              "nonzero_macs": nonzero_macs, "per": "example"}
    _check_latency(marker)


@pytest.fixture(scope="module")
def weights_ticket():
    """tiny_conv with 70% of its kernel weights magnitude-pruned: (wrapped, stripped)."""
    from lth_tf.core import masks as M
    from lth_tf.keras_side import pruning as P
    from lth_tf.platform.backend import keras

    wrapped = P.wrap(tiny_conv(keras))
    kernels = P.get_kernels(wrapped)
    P.set_masks(wrapped, M.prune(kernels, M.ones_like(kernels), 0.7, "global"))
    P.apply_masks(wrapped)
    return wrapped, P.strip(wrapped)


@pytest.mark.parametrize("fmt", ["dense", "sparse"])
def test_a_weights_ticket_export_records_params_nonzeros_and_macs(weights_ticket, fmt, tmp_path):
    from lth_tf.export import description, export_savedmodel, sparse

    wrapped, plain = weights_ticket
    pruned = sparse.pruned_weights(wrapped, plain) if fmt == "sparse" else None
    marker = description(export_savedmodel(plain, tmp_path / fmt, format=fmt, pruned=pruned))
    params, nonzero = _stored(plain)
    macs, nonzero_macs = _macs(plain)
    assert nonzero < params and nonzero_macs < 0.5 * macs  # 70% of the kernel entries are zero
    assert marker["cost"] == {"params": params, "nonzero_params": nonzero, "macs": macs,
                              "nonzero_macs": nonzero_macs, "per": "example"}
    _check_latency(marker)


def test_timing_off_records_a_null_latency_with_the_reason(weights_ticket, tmp_path):
    from lth_tf.export import cost_report, description, export_savedmodel

    _, plain = weights_ticket
    path = export_savedmodel(plain, tmp_path / "t", timing=False)
    marker = description(path)
    assert marker["latency"] is None and marker["latency_skipped"] == latency.NOT_TIMED
    assert "--no-timing" in latency.NOT_TIMED and marker["cost"]["params"] == _stored(plain)[0]
    (line,) = cost_report(path)
    assert line.startswith("cost:") and f"{_stored(plain)[0]:,} params" in line
    assert line.endswith(f"latency not measured ({latency.NOT_TIMED})")


def test_tflite_export_records_its_batch_1_latency(weights_ticket, tmp_path):
    from lth_tf.export import description, export_savedmodel

    _, plain = weights_ticket
    marker = description(export_savedmodel(plain, tmp_path / "t", format="tflite"))
    assert marker["cost"]["params"] == _stored(plain)[0]
    (run,) = marker["latency"]["runs"]
    assert run["batch"] == 1 and run["median_seconds"] > 0
    assert marker["latency"]["machine"]["cores"] >= 1


# -- through the CLI -----------------------------------------------------------------------------
def _export(*args: str) -> tuple[int, str, str]:
    from lth_tf.frontends.cli import main as cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["export", *args])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow  # a channel-pruned smoke run, two exports through the CLI
def test_cli_export_prints_cost_latency_and_the_ratio_to_a_dense_export_timed_beside_it(tmp_path):
    from helpers.cli import SMOKE

    from lth_tf.export import description
    from lth_tf.frontends.cli import main as cli

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(["run", *SMOKE, "--set", "prune.structure=refill", "--rounds", "1",
                         "--out", str(tmp_path / "runs"), "--quiet", "--no-export"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    code, out, err = _export(str(run_dir), "--round", "1", "--out", str(tmp_path / "n"))
    assert out.strip() == str(tmp_path / "n")
    assert code == 0, err
    marker = description(tmp_path / "n")
    assert marker["source"]["export_format"] == "narrow"
    cost = [line for line in err.splitlines() if line.startswith("cost:")]
    assert len(cost) == 1 and f"{marker['cost']['params']:,} params" in cost[0]
    assert f"({marker['latency']['machine']['cpu']}, " in cost[0] and " b1 " in cost[0] and " b256 " in cost[0]
    (ratio,) = [line for line in err.splitlines() if "timed side by side" in line]
    assert "narrow latency / the dense export's" in ratio and " b1 " in ratio and "x, b256 " in ratio
    assert not [p for p in (tmp_path / "n").iterdir() if p.name.startswith(".")]  # the dense reference is gone

    code, _, err = _export(str(run_dir), "--round", "1", "--out", str(tmp_path / "q"), "--no-timing")
    assert code == 0, err
    assert description(tmp_path / "q")["latency"] is None
    assert "timed side by side" not in err and f"latency not measured ({latency.NOT_TIMED})" in err
    print(json.dumps({k: marker[k] for k in ("cost", "latency")}, indent=1))


def test_an_export_whose_timing_fails_stands_with_a_null_latency_and_the_error(weights_ticket, tmp_path,
                                                                                monkeypatch, caplog):
    from lth_tf.export import description, export_savedmodel

    def broken(path, data=None, budget=None):
        raise ValueError("cannot call it\nsecond line")

    monkeypatch.setattr(latency, "measure", broken)
    _, plain = weights_ticket
    marker = description(export_savedmodel(plain, tmp_path / "t"))
    assert marker["latency"] is None and marker["latency_skipped"] == "timing failed: ValueError: cannot call it"
    assert marker["cost"]["params"] == _stored(plain)[0]
    assert "the export was not timed: ValueError" in caplog.text


# -- the ticket a run exports: lth-tf run --no-timing, TicketSearch.fit(timing=False) ------------
def _run_again(run_dir, *extra: str) -> tuple[int, str]:
    """`lth-tf run` of the smoke run at `run_dir` (finished: nothing trains, its ticket is written
    again since the test removed it); exit code and stderr."""
    from helpers.cli import SMOKE

    from lth_tf.frontends.cli import main as cli

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = cli.main(["run", *SMOKE, "--out", str(run_dir.parent), "--quiet", *extra])
    return code, err.getvalue()


def test_run_no_timing_writes_the_ticket_untimed_and_keeps_the_run_dir(smoke_run):
    import shutil

    from lth_tf.export import description
    from lth_tf.storage import rundir

    ticket = rundir.ticket_dir(smoke_run)
    assert description(ticket)["latency"]["runs"]  # the session's run timed its ticket
    config = rundir.config_path(smoke_run).read_text()
    shutil.rmtree(ticket)
    code, err = _run_again(smoke_run, "--no-timing")
    assert code == 0, err
    marker = description(ticket)
    assert marker["latency"] is None and marker["latency_skipped"] == latency.NOT_TIMED
    assert f"latency not measured ({latency.NOT_TIMED})" in err  # the cost line `export` prints
    assert f"{marker['cost']['params']:,} params" in err
    # not a setting: the same run directory, its config untouched
    assert [p.name for p in smoke_run.parent.iterdir()] == [smoke_run.name]
    assert rundir.config_path(smoke_run).read_text() == config

    shutil.rmtree(ticket)
    code, err = _run_again(smoke_run)
    assert code == 0, err
    _check_latency(description(ticket))
    (line,) = [line for line in err.splitlines() if line.startswith("cost:")]
    assert " b1 " in line and " b256 " in line and "not measured" not in line


def test_fit_timing_false_writes_the_ticket_untimed(tmp_path):
    import shutil

    from helpers.models import functional_mlp, splits

    import lth_tf
    from lth_tf.export import description
    from lth_tf.storage import rundir

    search = lth_tf.TicketSearch(functional_mlp(), directory=tmp_path, rounds=1, epochs=1, batch_size=64,
                                 settings={"prune.tolerance": 1.0})  # round 1 is the ticket
    summary = search.fit(*splits(), timing=False)
    ticket = rundir.ticket_dir(search.run_dir)
    assert summary["ticket"]["path"] == str(ticket)
    marker = description(ticket)
    assert marker["latency"] is None and marker["latency_skipped"] == latency.NOT_TIMED
    shutil.rmtree(ticket)
    search.fit(*splits())  # resumed: nothing trains, the ticket is written again, timed
    (run,) = [r for r in description(ticket)["latency"]["runs"] if r["batch"] == 1]
    assert run["median_seconds"] > 0


def test_random_inputs_follow_the_signatures_dtypes_and_refuse_open_shapes():
    from lth_tf.platform.backend import tf

    rng = np.random.default_rng(0)
    spec = {"image": tf.TensorSpec([None, 6, 6, 3], tf.uint8), "x": tf.TensorSpec([None, 4], tf.float32)}
    feeds = latency.random_inputs(spec, 5, rng)
    assert feeds["image"].dtype == tf.uint8 and feeds["image"].shape == (5, 6, 6, 3)
    assert feeds["x"].dtype == tf.float32 and feeds["x"].shape == (5, 4)
    assert len(np.unique(feeds["image"].numpy())) > 50  # pixels over 0..255, not a constant
    assert latency.random_inputs({"x": tf.TensorSpec([None, None], tf.float32)}, 1, rng) is None
    assert latency.random_inputs({"i": tf.TensorSpec([None, 2], tf.int64)}, 1, rng) is None
