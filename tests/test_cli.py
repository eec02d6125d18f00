"""`lth-tf` end to end: presets, run, rerun, report, and every error a user can cause.

Errors a user can cause exit with code 2 and print exactly one line on stderr
(nothing on stdout) naming the problem and the fix, and never lose or overwrite
what is already written. Those that need no TensorFlow are checked before it is
imported; the tests check that too.

Runs use the `smoke` preset (synthetic data, tiny CNN) with one epoch a round.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import SMOKE, Launched, assert_user_error, lth, tree

from lth_tf.core import config as C
from lth_tf.core.events import EVENT_NAMES, make_event, read_events
from lth_tf.frontends.cli import main as cli
from lth_tf.frontends.cli.console import PlainSink, RichSink, console_sink
from lth_tf.storage import rundir, store


# -- a smoke run by the CLI in a subprocess, and its rerun ------------------------------------
# (tests that only need a finished smoke run take conftest's `smoke_run`, a copy of one run
# made in-process once per session)
@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    first = lth("run", *SMOKE, "--out", "runs", tmp=tmp)
    assert first.code == 0, first
    run_dir = tmp / first.out.strip()
    before = tree(run_dir)
    ticket_pb = (run_dir / "ticket" / "saved_model.pb").stat()
    second = lth("run", *SMOKE, "--out", "runs", tmp=tmp)
    return {
        "tmp": tmp,
        "run_dir": run_dir,
        "first": first,
        "second": second,
        "before": before,
        "ticket_pb": ticket_pb,
    }


# -- presets ---------------------------------------------------------------------------------
def test_presets_lists_four_with_descriptions(capsys):
    assert cli.main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert {"smoke", "cora-gcn", "cifar10-resnet18", "cifar10-resnet18-cpu"} <= set(names)
    assert len(lines) == len(C.preset_names())
    for line in lines:
        name, description = line.split(None, 1)
        assert description.strip() == C.preset_description(name) and len(description) > 20


# -- run -------------------------------------------------------------------------------------
@pytest.mark.slow  # `finished`: lth-tf run twice in subprocesses
def test_run_prints_only_the_run_dir_and_writes_the_run(finished):
    r, run_dir = finished["first"], finished["run_dir"]
    assert r.out == f"{Path('runs') / run_dir.name}\n"
    assert run_dir.name.startswith("smoke-")
    # progress on stderr: plain lines (stderr is not a terminal), no TF start-up chatter
    err = r.err.splitlines()
    assert err[0].startswith("starting: ")
    assert any(line.startswith("round  2  sparsity  75.00%") for line in err)
    # the last lines: the run's end, then the exported ticket's cost (its marker: params, MACs, latency)
    assert err[-2].startswith("finished: ") and err[-1].startswith("cost:    "), err[-3:]
    assert not any("absl" in line or line.startswith("I0000") for line in err), r.err
    for name in (
        "config.toml",
        "events.jsonl",
        "summary.json",
        "rewind.npz",
        "report.md",
        "accuracy.png",
        "ticket/saved_model.pb",
    ):
        assert (run_dir / name).is_file(), name
    for rnd in range(3):
        for f in ("weights.npz", "masks.npz", "metrics.json"):
            assert (rundir.round_dir(run_dir, rnd) / f).is_file()
    tb = list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert {p.parent.name for p in tb} == {"round_000", "round_001", "round_002"}
    for p in tb:  # TFRecords of Event protos: the scalars' tags are in there as bytes
        data = p.read_bytes()
        assert all(tag in data for tag in (b"loss", b"acc", b"val_loss", b"val_acc")), p


@pytest.mark.slow  # `finished`
def test_run_writes_events_and_summary_by_the_contract(finished):
    run_dir = finished["run_dir"]
    events = read_events(run_dir / "events.jsonl")
    assert all(e["event"] in EVENT_NAMES and isinstance(e["time"], float) for e in events)
    names = [e["event"] for e in events]
    assert names[0] == "run_started" and names.count("round_finished") == 3
    assert names.index("ticket_exported") < names.index("run_finished")
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["status"] == "finished" and s["preset"] == "smoke"
    assert s["config_hash"] == C.resolve("smoke", None, SMOKE[3::2]).hash()
    assert [r["round"] for r in s["rounds"]] == [0, 1, 2]
    assert [r["sparsity"] for r in s["rounds"]] == [0.0, 0.5, 0.75]
    t = s["ticket"]
    assert t["round"] == 2 and t["sparsity"] == 0.75  # tolerance 1.0: the sparsest round wins
    assert t["saved_model_bytes"] > t["gzip_bytes"] > 0
    exported = next(e for e in events if e["event"] == "ticket_exported")
    assert exported["saved_model_bytes"] == t["saved_model_bytes"]


@pytest.mark.slow  # `finished`
def test_rerunning_a_finished_run_resumes_without_training(finished):
    first, second, run_dir = finished["first"], finished["second"], finished["run_dir"]
    assert second.code == 0, second
    assert second.out == first.out  # the same run dir, alone on stdout
    assert "resuming after round 2" in second.err
    assert second.seconds < first.seconds
    events = read_events(run_dir / "events.jsonl")
    last_start = max(i for i, e in enumerate(events) if e["event"] == "run_started")
    after = [e["event"] for e in events[last_start:]]
    assert after == ["run_started", "run_finished"]  # no round, control or export again
    # finish() is idempotent: same summary, same ticket export, same checkpoints
    now = tree(run_dir)
    for name, digest in finished["before"].items():
        if name not in ("events.jsonl", "report.md", "accuracy.png", "accuracy.svg"):
            assert now[name] == digest, name
    assert (run_dir / "ticket" / "saved_model.pb").stat().st_mtime_ns == finished[
        "ticket_pb"
    ].st_mtime_ns


@pytest.mark.slow  # lth-tf run in a subprocess
def test_run_works_from_defaults_given_a_model_and_a_folder_with_a_small_class(tmp_path):
    """No --preset or --config: a model and data on the defaults. The folder's 8-image class
    keeps 5 training images (proportional split) and is named in one warning; the run records
    the examples per class, and the report shows them."""
    from PIL import Image

    for name, n in (("big", 30), ("small", 8)):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(n):
            pixels = np.full((8, 8, 3), 40 if name == "big" else 200, np.uint8)
            pixels[0, 0] = i
            Image.fromarray(pixels).save(tmp_path / "photos" / name / f"{i}.png")
    r = lth("run", "--set", "model.name=tiny_cnn", "--set", "data.name=folder:photos",
            "--set", "data.image_size=8", "--rounds", "1", "--set", "train.epochs=1",
            "--out", "runs", "--quiet", tmp=tmp_path)  # fmt: skip
    assert r.code == 0, r
    run_dir = tmp_path / r.out.strip()
    assert run_dir.name.startswith("tiny_cnn-folder_photos-") or run_dir.name.startswith("tiny_cnn-")
    warnings = [line for line in r.err.splitlines() if "fewer than 10" in line]
    assert len(warnings) == 1 and "class 'small' has only 5 training images" in warnings[0], r.err
    started = next(e for e in read_events(run_dir / "events.jsonl") if e["event"] == "run_started")
    assert started["num_classes"] == 2 and started["data_warnings"] == [warnings[0].strip()]
    assert started["split_sizes"] == {"classes": ["big", "small"], "unit": "images",
                                      "train": [22, 5], "val": [2, 1], "test": [6, 2]}
    report = (run_dir / "report.md").read_text()
    assert "| small | 5 | 1 | 2 |" in report and "data warning: class 'small'" in report
    assert json.loads((run_dir / "summary.json").read_text())["num_classes"] == 2


# -- report ----------------------------------------------------------------------------------
def test_report_prints_the_table_and_writes_markdown_and_png(smoke_run, capsys):
    run_dir = smoke_run
    (run_dir / "report.md").unlink()
    (run_dir / "accuracy.png").unlink()
    assert cli.main(["report", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "| round | sparsity % | val acc % | test acc % | delta vs dense | params | nonzeros " in out
    assert "| inference FLOPs | student loss | distill loss | teacher loss |" in out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| round | sparsity % | val acc %"))
    rows = [line for line in lines[start + 2:start + 5] if line.startswith("| ") and line[2].isdigit()]
    assert [row.split("|")[1].strip() for row in rows] == ["0", "1", "2"]
    assert rows[1].split("|")[2].strip() == "50.00"
    assert "| random_reinit | 2 | 75.00 |" in out  # the control
    assert "winning ticket: round 2" in out and "MB gzip" in out
    assert (run_dir / "report.md").read_text() == out
    png = (run_dir / "accuracy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_report_shows_distillation_losses(tmp_path, capsys):
    run_dir = tmp_path / "kd"
    run_dir.mkdir()
    (run_dir / "config.toml").write_text("# config_hash = x\n")
    kd = {"student_loss": 0.5, "distill_loss": 0.25, "teacher_loss": 0.125}
    rounds = [
        {
            "round": 0,
            "sparsity": 0.0,
            "val_acc": 0.8,
            "test_acc": 0.75,
            "layer_sparsity": {},
            "seconds": 1.0,
            "distill": None,
        },
        {
            "round": 1,
            "sparsity": 0.2,
            "val_acc": 0.8,
            "test_acc": 0.7,
            "layer_sparsity": {},
            "seconds": 1.0,
            "distill": kd,
        },
    ]
    store.RunStore(run_dir).write_summary(
        {
            "config_hash": "x",
            "preset": None,
            "status": "running",
            "dense": {"val_acc": 0.8, "test_acc": 0.75},
            "rounds": rounds,
            "controls": [],
            "ticket": None,
        }
    )
    assert cli.main(["report", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "| 1 | 20.00 | 80.00 | 70.00 | -5.00 |  |  |  | 0.5000 | 0.2500 | 0.1250 | 1.0 |" in out  # no sizes recorded


# -- console ---------------------------------------------------------------------------------
class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def feed(sink) -> None:
    sink(
        make_event(
            "run_started",
            run_dir="r",
            config_hash="h",
            preset="smoke",
            rounds=1,
            resumed_from=None,
            model="tiny_cnn",
            dataset="synthetic_images",
            config={},
        )
    )
    for r in (0, 1):
        sink(make_event("round_started", round=r, target_sparsity=0.5 * r, epochs=2))
        for ep in (1, 2):
            sink(
                make_event(
                    "epoch_end",
                    round=r,
                    epoch=ep,
                    epochs=2,
                    loss=float("nan"),
                    acc=0.5,
                    val_loss=1.0,
                    val_acc=0.5,
                    seconds=0.1,
                )
            )
        sink(
            make_event(
                "round_finished",
                round=r,
                sparsity=0.5 * r,
                layer_sparsity={},
                val_acc=0.5,
                test_acc=0.5,
                seconds=1.0,
                best_epoch=2,
                distill={"student_loss": 1.0, "distill_loss": None, "teacher_loss": 2.0},
            )
        )
    sink(
        make_event(
            "ticket_exported",
            round=1,
            sparsity=0.5,
            test_acc=0.5,
            path="t/[bold]/x",
            saved_model_bytes=2_000_000,
            gzip_bytes=500_000,
        )
    )
    sink(make_event("run_finished", run_dir="r", ticket=None))


def test_progress_is_rich_on_a_terminal_and_plain_otherwise(monkeypatch):
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at the terminal's width
    with console_sink(quiet=False) as sink:
        assert isinstance(sink, RichSink)
        feed(sink)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", tty.getvalue())  # without colours
    assert "rounds" in text and "round  1  sparsity  50.00%" in text and "finished: r" in text
    assert "-> t/[bold]/x (2.000 MB, 0.500 MB gzip)" in text  # paths are not rich markup

    for quiet, stream in ((True, FakeTTY()), (False, io.StringIO())):
        monkeypatch.setattr(sys, "stderr", stream)
        with console_sink(quiet=quiet) as sink:
            assert isinstance(sink, PlainSink)
            feed(sink)
        lines = stream.getvalue().splitlines()
        assert lines[0] == "starting: r (tiny_cnn on synthetic_images, 1 rounds)"
        assert "round  1: training 2 epochs at 50.00% sparsity" in lines
        assert any(
            line.startswith("round  1  sparsity  50.00%") and "distill nan" in line
            for line in lines
        )
        assert lines[-1] == "finished: r"


def test_plain_progress_shows_epochs_of_long_rounds():
    out = io.StringIO()
    sink = PlainSink(out, epoch_interval=0.0)
    feed(sink)
    assert "round  0 epoch 1/2  loss nan  val 50.00%" in out.getvalue()


# -- errors a user can cause -------------------------------------------------------------------
BAD = {
    "unknown preset": (["run", "--preset", "nope"], ["'nope'", "lth-tf presets"]),
    "unknown model": (
        ["run", "--preset", "smoke", "--set", "model.name=nope"],
        ["'nope'", "model.name = one of"],
    ),
    "unknown dataset": (
        ["run", "--preset", "smoke", "--set", "data.name=nope"],
        ["'nope'", "data.name = one of"],
    ),
    "rate 0": (["run", "--preset", "smoke", "--set", "prune.rate=0"], ["prune.rate 0.0", "(0, 1)"]),
    "rate 1": (["run", "--preset", "smoke", "--set", "prune.rate=1"], ["prune.rate 1.0", "(0, 1)"]),
    "rate 1.5": (["run", "--preset", "smoke", "--set", "prune.rate=1.5"], ["prune.rate 1.5"]),
    "rate -0.1": (["run", "--preset", "smoke", "--set", "prune.rate=-0.1"], ["prune.rate -0.1"]),
    "bad key": (
        ["run", "--preset", "smoke", "--set", "train.epoch=3"],
        ["'train.epoch'", "train.epochs"],
    ),
    "bad type": (
        ["run", "--preset", "smoke", "--set", "train.epochs=abc"],
        ["'train.epochs'", "'abc'", "whole number"],
    ),
    "not key=value": (["run", "--preset", "smoke", "--set", "train.epochs"], ["key=value"]),
    "no experiment": (["run"], ["--preset"]),
    "a model without data": (["run", "--set", "model.name=tiny_cnn"],
                             ["--preset", "--config", "--set data.name="]),
    "missing config file": (["run", "--config", "nope.toml"], ["nope.toml"]),
    "no data dir": (["run", "--preset", "cora-gcn", "--data-dir", "nope"], ["--data-dir nope"]),
    "argparse: bad int": (
        ["run", "--preset", "smoke", "--rounds", "abc"],
        ["--rounds", "'abc'", "lth-tf run --help"],
    ),
    "argparse: unknown option": (["run", "--preset", "smoke", "--bogus"], ["--bogus"]),
    "argparse: no command": ([], ["command"]),
    "argparse: export without --out": (["export", "somewhere"], ["--out"]),
    "report: no run dir": (["report", "nope"], ["nope", "does not exist"]),
    "report: not a run dir": (["report", "."], ["not a run directory"]),
    "export: not a run dir": (["export", ".", "--out", "x"], ["not a run directory"]),
}


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory):
    """Every BAD case, run at once (each in its own folder holding one file of the user's)."""
    launched = {}
    for case, (args, _) in BAD.items():
        tmp = tmp_path_factory.mktemp("bad")
        (tmp / "keep.txt").write_text("mine")
        launched[case] = (tmp, Launched(*args, tmp=tmp))
    return {case: (tmp, run.result()) for case, (tmp, run) in launched.items()}


@pytest.mark.slow  # `bad_runs`: lth-tf in 20 subprocesses
@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_before_tensorflow(case, bad_runs):
    tmp, r = bad_runs[case]
    assert_user_error(r, *BAD[case][1])
    assert not r.tf_imported, f"{case}: TensorFlow was imported before the error"
    assert sorted(tmp.iterdir()) == [tmp / "keep.txt"] and (tmp / "keep.txt").read_text() == "mine"


@pytest.mark.slow  # lth-tf in subprocesses
def test_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "out").write_text("mine")
    r = lth("run", *SMOKE, "--out", "out", tmp=tmp_path)
    assert_user_error(r, "out", "not a folder")
    assert not r.tf_imported and (tmp_path / "out").read_text() == "mine"


@pytest.mark.slow  # lth-tf in subprocesses
def test_missing_data_fails_before_a_run_dir_is_touched(tmp_path):
    """cora-gcn with an empty data folder: no new run dir, an existing one unchanged."""
    (tmp_path / "empty").mkdir()
    exp = C.resolve("cora-gcn")
    existing = tmp_path / "runs" / exp.run_name()
    store.RunStore(existing).claim(exp.to_toml(), exp.hash())
    (existing / "summary.json").write_text('{"status": "running"}\n')
    before = tree(tmp_path / "runs")
    r = lth("run", "--preset", "cora-gcn", "--data-dir", "empty", "--out", "runs", tmp=tmp_path)
    assert_user_error(r, "no Cora in empty/citation", "--data-dir")
    # no run_failed event, no "failed" status, no other folder
    assert tree(tmp_path / "runs") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "runs"]


@pytest.mark.slow  # lth-tf in subprocesses
def test_a_corrupt_checkpoint_is_a_clean_error_and_nothing_else_changes(smoke_run, tmp_path):
    run_dir = smoke_run  # tmp_path/runs/NAME
    # A run that stopped after round 1 (round 2 not stored), then round 1's weights got truncated.
    shutil.rmtree(rundir.round_dir(run_dir, 2))
    weights = rundir.round_dir(run_dir, 1) / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:100])
    before = tree(run_dir)
    r = lth("run", *SMOKE, "--out", "runs", tmp=tmp_path)
    round_1 = Path("runs") / run_dir.name / "rounds" / "001"
    assert_user_error(r, str(round_1 / "weights.npz"), "corrupt", f"delete {round_1} (that round only)")
    assert not r.tf_imported  # the resume point is read before anything else
    assert tree(run_dir) == before  # no file changed: not even events.jsonl or summary.json

    # exporting the corrupt round is the same clean error, found before TF loads
    r = lth("export", str(run_dir), "--round", "1", "--out", "t1", tmp=tmp_path)
    assert_user_error(r, "weights.npz", "corrupt")
    assert not r.tf_imported and not (tmp_path / "t1").exists()

    # following the advice (delete that round's folder) recomputes it and finishes
    shutil.rmtree(rundir.round_dir(run_dir, 1))
    r = lth("run", *SMOKE, "--out", "runs", tmp=tmp_path)
    assert r.code == 0, r
    assert "resuming after round 0" in r.err
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "finished"
    assert before["rounds/000/weights.npz"] == tree(run_dir)["rounds/000/weights.npz"]


@pytest.mark.slow  # lth-tf in subprocesses
def test_a_run_dir_of_another_config_is_never_touched(smoke_run, tmp_path):
    run_dir = smoke_run  # tmp_path/runs/NAME
    config = run_dir / "config.toml"
    config.write_text(config.read_text().replace("# config_hash = ", "# config_hash = 0"))
    before = tree(run_dir)
    r = lth("run", *SMOKE, "--out", "runs", tmp=tmp_path)
    assert_user_error(r, "holds a different experiment", "another --out")
    assert not r.tf_imported
    r = lth("export", str(run_dir), "--out", "t", tmp=tmp_path)
    assert_user_error(r, "does not match its recorded hash")
    assert not r.tf_imported
    assert tree(run_dir) == before


@pytest.mark.slow  # lth-tf in subprocesses
def test_export_errors_come_before_tensorflow(smoke_run, tmp_path):
    run_dir = smoke_run
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.txt").write_text("mine")
    (tmp_path / "file").write_text("mine")
    cases = [
        (["--round", "7"], "round 7 is not stored"),
        (["--out", "mine"], "lth-tf did not export"),
        (["--out", "file"], "lth-tf did not export"),
        (["--out", str(run_dir / "ticket")], "own ticket folder"),
        (["--out", str(run_dir)], "lth-tf did not export"),
    ]
    for extra, words in cases:
        args = ["export", str(run_dir), *(extra if "--out" in extra else [*extra, "--out", "x"])]
        r = lth(*args, tmp=tmp_path)
        assert_user_error(r, words)
        assert not r.tf_imported, extra
    assert (tmp_path / "mine" / "a.txt").read_text() == "mine"
    assert (tmp_path / "file").read_text() == "mine"
    assert not (tmp_path / "x").exists()
