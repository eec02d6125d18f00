"""User errors caught before a run directory exists, and advice that names one file.

Issue 13 items 2 (early checks, labels, exact advice). The pure checks run in
milliseconds; the CLI cases run `lth-tf` in subprocesses (tests/helpers/cli.py)
and check the contract: exit 2, one line on stderr, nothing written.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import SMOKE, Launched, assert_user_error, lth, tree

from lth_tf.core import config as C
from lth_tf.core import masks as M
from lth_tf.core.errors import LthError
from lth_tf.frontends import report
from lth_tf.search import preflight
from lth_tf.search.plan import Plan
from lth_tf.storage import atomic, rundir, store


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(LthError) as e:
        fn(*args, **kwargs)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# -- values config.validate now refuses ------------------------------------------------------
@pytest.mark.parametrize(
    "item, words",
    [
        ("model.width=0", ["model.width 0", "at least 1"]),
        ("model.hidden=0", ["model.hidden 0", "at least 1"]),
        ("model.dropout=1.0", ["model.dropout 1.0", "[0, 1)"]),
        ("model.dropout=-0.1", ["model.dropout -0.1", "[0, 1)"]),
        ("model.l2=-0.001", ["model.l2 -0.001", "negative"]),
        ("prune.control_rounds=3", ["control_rounds '3'", "round 3", "1..2"]),
        ("prune.control_rounds=0,1", ["round 0", "1..2"]),
        ("preset=/abs/path", ["'/abs/path'", "not a preset name"]),
        ("preset=../../x", ["'../../x'", "not a preset name"]),
    ],
)
def test_bad_values_are_refused_by_validate(item, words):
    msg = error_of(C.resolve, "smoke", overrides=[item])  # smoke: 2 rounds
    for w in words:
        assert w in msg, msg


def test_control_rounds_follow_the_planned_rounds():
    assert C.resolve("smoke", overrides=["prune.control_rounds=1,2"]).control_round_list() == [1, 2]
    C.resolve("smoke", overrides=["prune.rounds=0"])  # "last" with no pruned round is fine
    msg = error_of(C.resolve, "smoke", overrides=["prune.one_shot=true", "prune.control_rounds=2"])
    assert "1..1" in msg  # one-shot plans one pruned round


def test_preset_in_a_toml_file_must_be_a_preset_name(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('preset = "../../x"\n[prune]\nrounds = 1\n')
    assert "not a preset name" in error_of(C.resolve, "smoke", path)
    path.write_text('preset = "cora-gcn"\n')  # a shipped name stays a valid label
    assert C.resolve(None, path).preset == "cora-gcn"


def test_run_names_a_run_after_its_preset_only_while_it_trains_that_presets_model_and_data():
    smoke = C.resolve("smoke")
    assert smoke.run_name().startswith("smoke-")
    cora = C.resolve("smoke", overrides=["data.name=cora", "model.name=gcn"])
    assert cora.preset == "smoke" and cora.run_name().startswith("gcn-cora-")
    relabelled = C.resolve("cora-gcn", overrides=["preset=smoke"])
    assert relabelled.run_name().startswith("gcn-cora-")
    # whatever the label, the name is one path component that does not start with a dot
    for label in ("/abs/path", "../../x", ".hidden", "a/b\\c"):
        name = replace(smoke, preset=label).run_name()
        assert "/" not in name and "\\" not in name and not name.startswith(".")


@pytest.mark.parametrize("content", [bytes(range(256)), "seed = 1 # café\n".encode("latin-1")])
def test_a_binary_or_non_utf8_config_is_one_line(tmp_path, content):
    path = tmp_path / "c.toml"
    path.write_bytes(content)
    msg = error_of(C.resolve, None, path)
    assert str(path) in msg and "UTF-8" in msg


# -- layer names and per-layer rates (preflight.check_layers, pure) ----------------------------
SIZES = {"conv1": 216, "conv2": 1152, "output": 40}


def check(*overrides: str) -> None:
    preflight.check_layers(C.resolve("smoke", overrides=list(overrides)), SIZES)


@pytest.mark.parametrize(
    "item, words",
    [
        ("prune.exclude=conv9", ["prune.exclude", "'conv9'", "conv1, conv2, output"]),
        ("prune.layer_rates=dense:0.1", ["prune.layer_rates", "'dense'", "conv1, conv2, output"]),
        ("prune.exclude=conv1,conv2,output", ["excludes every prunable layer"]),
    ],
)
def test_layer_names_the_model_does_not_have_are_refused(item, words):
    msg = error_of(check, item)
    for w in words:
        assert w in msg, msg


def test_a_layer_rate_that_empties_a_layer_is_refused():
    check("prune.layer_rates=output:0.5", "prune.rounds=20")  # never empties (halves round to even)
    msg = error_of(check, "prune.layer_rates=output:0.9", "prune.rounds=5")
    assert "'output'" in msg and "40 weights" in msg and "lower that rate" in msg
    msg = error_of(check, "prune.scope=layerwise", "prune.rate=0.9", "prune.rounds=5")
    assert "(layerwise)" in msg and "'output'" in msg  # the smallest layer empties first
    check("prune.rate=0.9", "prune.rounds=5")  # global: depends on the weights, not checked
    check("prune.layer_rates=output:0.9", "prune.rounds=5", "prune.exclude=output")


def test_a_rate_schedule_that_empties_a_layer_is_refused():
    """Layerwise layers are checked at the plan's per-round rates, not at the constant prune.rate."""
    layerwise = ("prune.scope=layerwise", "prune.rate=0.5", "prune.rounds=5")
    check(*layerwise, "prune.rate_schedule=0.5,0.5,0.5,0.5,0.5")  # 40 -> 1 weight left: kept
    msg = error_of(check, *layerwise, "prune.rate_schedule=0.5,0.5,0.5,0.5,0.9")
    assert "prune.rate_schedule '0.5,0.5,0.5,0.5,0.9' (layerwise)" in msg
    assert "'output' (40 weights) by round 5 of 5" in msg and "prune.rate_schedule" in msg.split(";")[1]
    # the same rates, round by round, as the plan prunes them (masks.prune per round)
    exp = C.resolve("smoke", overrides=[*layerwise, "prune.rate_schedule=0.5,0.5,0.5,0.5,0.9"])
    w, plan = {"k": np.random.default_rng(0).normal(size=40)}, Plan.of(exp)
    m = M.ones_like(w)
    for r in range(1, 6):
        m = M.prune(w, m, plan.round_rate(r), "layerwise")
    assert not m["k"].any()
    # a layer's own prune.layer_rates entry ignores the schedule: 0.5 a round keeps one weight
    check(*layerwise, "prune.rate_schedule=0.5,0.5,0.5,0.5,0.9", "prune.layer_rates=output:0.5")


@pytest.mark.parametrize("rate", [0.3, 0.5, 0.6, 0.8, 0.95])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 40])
def test_emptied_at_agrees_with_the_mask_math(size, rate):
    """Prune a real kernel round by round with masks.prune; the first empty round must match."""
    rounds = 6
    exp = C.resolve("smoke", overrides=[f"prune.rounds={rounds}"])
    w = {"k": np.random.default_rng(size).normal(size=size)}
    m = M.ones_like(w)
    first_empty = None
    for r in range(1, rounds + 1):
        m = M.prune(w, m, 0.2, "layerwise", layer_rates={"k": rate})
        if first_empty is None and not m["k"].any():
            first_empty = r
    assert preflight.emptied_at(size, rate, exp) == first_empty


# -- advice names the exact file ---------------------------------------------------------------
@pytest.fixture
def run_dir(tmp_path) -> Path:
    """A run directory with rounds 0 and 1 (tiny arrays) and a summary."""
    d = tmp_path / "runs" / "r"
    s = store.RunStore(d)
    s.claim("seed = 0\n", "h")
    s.save_rewind([np.zeros(3)])
    for r in (0, 1):
        s.save_round(r, [np.ones(3)], {"k": np.ones(3)}, {"round": r, "sparsity": 0.0,
                                                          "val_acc": 0.5, "test_acc": 0.5})
    s.write_summary({"rounds": []})
    return d


def test_a_corrupt_rewind_point_names_it_and_round_0_not_the_run_dir(run_dir):
    rundir.rewind_path(run_dir).write_bytes(b"PK\x03\x04 garbage")
    msg = error_of(store.RunStore(run_dir).load_rewind)
    assert f"delete {rundir.rewind_path(run_dir)} and {rundir.round_dir(run_dir, 0)} " in msg
    assert "its folder" not in msg and "run dir" not in msg


@pytest.mark.parametrize("content", ["[]", "{", '{"round": 1}', "\xff"])
def test_a_corrupt_round_file_names_that_round_only(run_dir, content):
    (rundir.round_dir(run_dir, 1) / rundir.METRICS_FILE).write_text(content, encoding="latin-1")
    msg = error_of(store.RunStore(run_dir).load_round, 1)
    assert f"delete {rundir.round_dir(run_dir, 1)} (that round only)" in msg


@pytest.mark.parametrize("content", ["[]", "{", "\xff\xfe"])
def test_a_corrupt_summary_names_summary_json(run_dir, content):
    rundir.summary_path(run_dir).write_text(content, encoding="latin-1")
    msg = error_of(store.RunStore(run_dir).read_summary)
    assert f"delete {rundir.summary_path(run_dir)} and rerun" in msg


def good_summary() -> dict:
    r = {"round": 0, "sparsity": 0.0, "val_acc": 0.5, "test_acc": 0.5, "seconds": 1.0}
    return {"status": "finished", "dense": {"val_acc": 0.5, "test_acc": 0.5}, "rounds": [r],
            "controls": [], "ticket": None}


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: s.pop("rounds"),
        lambda s: s["rounds"][0].pop("test_acc"),
        lambda s: s["rounds"][0].update(sparsity="half"),
        lambda s: s["rounds"].append(3),
        lambda s: s.update(dense={"val_acc": 0.5}),
        lambda s: s.update(controls=[{"kind": "random_mask", "round": 1}]),
        lambda s: s.update(ticket={"round": 1, "sparsity": 0.5, "test_acc": None}),
        lambda s: s["rounds"][0].update(distill=[1]),
    ],
)
def test_report_refuses_a_summary_lacking_fields_with_one_line(run_dir, damage):
    summary = good_summary()
    report.write_report(run_dir, plots=False)  # the undamaged summary (rounds: []) reports
    atomic.write_json_atomic(rundir.summary_path(run_dir), summary)
    assert "| 0 | 0.00 | 50.00 | 50.00 |" in report.write_report(run_dir, plots=False)
    damage(summary)
    atomic.write_json_atomic(rundir.summary_path(run_dir), summary)
    msg = error_of(report.write_report, run_dir, plots=False)
    assert str(rundir.summary_path(run_dir)) in msg and "delete" in msg


# -- the CLI: exit 2, one line, nothing written ------------------------------------------------
EARLY = {  # refused before TensorFlow loads
    "width": ["--set", "model.width=0"],
    "hidden": ["--set", "model.hidden=0"],
    "dropout": ["--set", "model.dropout=1.0"],
    "l2": ["--set", "model.l2=-1"],
    "control rounds": ["--set", "prune.control_rounds=5"],
    "preset path": ["--set", "preset=/abs/path"],
}
LAYERS = {  # refused after the model is built, before the run dir exists
    "exclude missing": ["--set", "prune.exclude=nope"],
    "layer rate missing": ["--set", "prune.layer_rates=nope:0.1"],
    "exclude all": ["--set", "prune.exclude=conv1,conv2,output"],
    "rate empties": ["--set", "prune.layer_rates=output:0.99"],
}


@pytest.fixture(scope="module")
def cli_errors(tmp_path_factory):
    launched = {}
    for case, extra in {**EARLY, **LAYERS}.items():
        tmp = tmp_path_factory.mktemp("err")
        launched[case] = (tmp, Launched("run", *SMOKE, *extra, "--out", "runs", tmp=tmp))
    return {case: (tmp, run.result(timeout=300)) for case, (tmp, run) in launched.items()}


@pytest.mark.slow  # `cli_errors`: lth-tf runs in subprocesses
@pytest.mark.parametrize("case", [*EARLY, *LAYERS])
def test_cli_refuses_bad_input_before_creating_the_run_dir(case, cli_errors):
    tmp, r = cli_errors[case]
    assert_user_error(r)
    assert list(tmp.iterdir()) == [], f"{case}: {list(tmp.rglob('*'))}"
    if case in EARLY:
        assert not r.tf_imported


@pytest.mark.slow  # lth-tf runs in subprocesses
def test_cli_on_damaged_run_files(tmp_path):
    """report on `[]` / keyless summaries, export and run on a binary config.toml."""
    exp = C.resolve("smoke", overrides=SMOKE[3::2])
    d = tmp_path / "runs" / exp.run_name()
    store.RunStore(d).claim(exp.to_toml(), exp.hash())
    for content in ("[]", '{"rounds": [{"round": 0}]}'):
        rundir.summary_path(d).write_text(content)
        assert_user_error(lth("report", str(d), tmp=tmp_path), "summary.json", "delete")
    shutil.copy(rundir.config_path(d), tmp_path / "good.toml")
    rundir.config_path(d).write_bytes(bytes(range(256)))
    before = tree(tmp_path)
    r = lth("export", str(d), "--out", "t", tmp=tmp_path)
    assert_user_error(r, "config.toml", "UTF-8")
    r = lth("run", *SMOKE, "--out", "runs", tmp=tmp_path)
    assert_user_error(r, "holds a different experiment")
    assert not r.tf_imported and tree(tmp_path) == before
    assert json.loads(rundir.summary_path(d).read_text())["rounds"] == [{"round": 0}]
