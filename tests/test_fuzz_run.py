"""Fuzz, part 2: damaged files of a finished tiny run directory (issue 13, item 7).

The session's finished smoke run (conftest.py: 2 rounds, 1 epoch, a random_reinit
control, the ticket exported) is copied per example; hypothesis damages one of its
files. In-process, the reader of that file must return what was stored or raise one
LthError line naming it. A few examples run the real CLI (`report`, `export`, `run`
resuming round 2) in a subprocess: exit 0, or exit 2 with one stderr line; never a
traceback or a signal. See tests/test_fuzz.py for the data files, tests/helpers/fuzz.py
for the mutations and the outcome tally.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import ROOT, SMOKE
from helpers.fuzz import FAST, check, dump_outcomes, mutate_file, mutations, record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lth_tf.core import config as C
from lth_tf.frontends import report
from lth_tf.storage import rundir, store

# The files of a finished run that lth-tf reads (ticket/ is a SavedModel it only writes).
RUN_FILES = (
    "config.toml",
    "summary.json",
    "events.jsonl",
    "rewind.npz",
    "rounds/000/weights.npz",
    "rounds/000/masks.npz",
    "rounds/000/metrics.json",
    "rounds/001/weights.npz",
    "rounds/001/masks.npz",
    "rounds/001/metrics.json",
    "rounds/002/weights.npz",
    "rounds/002/masks.npz",
    "rounds/002/metrics.json",
    "controls/random_reinit-002/metrics.json",
    "lock",
)


@pytest.fixture(scope="module", autouse=True)
def tally():
    yield
    print("\nfuzz outcomes (ok = correct result, error = one-line LthError):", dump_outcomes())


@pytest.fixture(scope="module")
def finished(smoke_run_session):
    """The session's smoke run (read, never written: examples damage copies) and what it holds."""
    run = smoke_run_session
    exp = C.resolve("smoke", overrides=SMOKE[3::2])
    assert {str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()} >= set(RUN_FILES)
    s = store.RunStore(run)
    stored = Stored(exp=exp, rounds={r: s.load_round(r) for r in (0, 1, 2)}, rewind=s.load_rewind(), controls=s.all_controls(), report=report.write_report(run, plots=False))
    return run, stored


class Stored(dict):
    """What the finished run's readers returned; a short repr keeps hypothesis' reports short."""

    def __repr__(self) -> str:
        return "Stored(...)"


def copy_run(run: Path, into: Path) -> Path:
    dst = into / "runs" / run.name
    shutil.copytree(run, dst)
    return dst


def same_arrays(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def read_file_of_run(run: Path, rel: str, stored: dict) -> None:
    """Read `rel` as lth-tf does; checks the result against what was stored."""
    s, path = store.RunStore(run), str(run / rel)
    kind = "run " + rel.replace("000", "NNN").replace("001", "NNN").replace("002", "NNN")
    if rel == "config.toml":

        def same_config(exp):
            # A config whose hash line no longer matches is refused by export and resume
            # (the subprocess examples check that); one that matches must be the same run.
            if exp.hash() == s.stored_hash():
                assert exp == stored["exp"]

        check(kind, lambda: rundir.read_experiment(run), path, expect=same_config)
    elif rel in ("summary.json", "events.jsonl"):
        # JSON has no checksum: a changed digit is reported as written. What must hold:
        # a report, or one line naming the file.
        check(kind, lambda: report.write_report(run, plots=False), path, expect=lambda t: t.strip())
    elif rel == "rewind.npz":
        check(kind, s.load_rewind, path, expect=lambda w: same_arrays(w, stored["rewind"]) or pytest.fail("rewind changed"))
    elif rel.startswith("rounds/"):
        r = int(rel.split("/")[1])
        w0, m0, _ = stored["rounds"][r]

        def same_round(got):
            w, m, metrics = got
            assert same_arrays(w, w0) and same_arrays(m, m0), "arrays changed silently"
            assert all(k in metrics for k in rundir.REQUIRED_ROUND_KEYS)

        check(kind, lambda: s.load_round(r), path, expect=same_round)
    elif rel == "lock":  # names the holder; nobody holds it here, whatever it says
        check(kind, s.check_unlocked, path)
    elif rel.startswith("controls/"):
        check(kind, s.all_controls, path, expect=lambda c: len(c) == len(stored["controls"]) or pytest.fail())
    else:
        raise AssertionError(rel)


@settings(FAST, max_examples=100)
@given(rel=st.sampled_from(RUN_FILES), m=mutations())
def test_damaged_run_file_is_an_error_or_what_was_stored(finished, rel, m):
    run, stored = finished
    with tempfile.TemporaryDirectory() as tmp:
        copy = copy_run(run, Path(tmp))
        mutate_file(copy / rel, m)
        read_file_of_run(copy, rel, stored)


# -- the real CLI, a few examples -------------------------------------------------------------
def lth(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "lth_tf.frontends.cli.main", *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=300, check=False,
    )  # fmt: skip


def assert_exit_0_or_one_line(p: subprocess.CompletedProcess) -> str:
    assert p.returncode >= 0, f"killed by signal {-p.returncode}: {p.stderr[-2000:]}"
    assert "Traceback" not in p.stderr + p.stdout, p.stderr[-3000:]
    assert p.returncode in (0, 2), (p.returncode, p.stderr[-3000:])
    if p.returncode == 2:
        lines = p.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("lth-tf: error: "), p.stderr[-3000:]
        return "error"
    return "ok"


@pytest.mark.slow  # lth-tf in subprocesses
@settings(FAST, max_examples=4, suppress_health_check=list(HealthCheck))
@given(
    command=st.sampled_from(["report", "report", "export", "run", "run"]),
    rel=st.sampled_from([f for f in RUN_FILES if not f.startswith("rounds/002")]),
    m=mutations(),
)
def test_cli_on_a_damaged_run_exits_0_or_2_with_one_line(finished, command, rel, m):
    run, _ = finished
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        copy = copy_run(run, tmp)
        mutate_file(copy / rel, m)
        if command == "report":
            p = lth("report", str(copy), cwd=tmp)
        elif command == "export":
            p = lth("export", str(copy), "--round", "1", "--out", str(tmp / "exported"), cwd=tmp)
        else:  # resume: round 2 is recomputed from the (damaged) round 1 and rewind point
            shutil.rmtree(copy / "rounds" / "002")
            p = lth("run", *SMOKE, "--out", "runs", "--quiet", "--no-export", cwd=tmp)
        outcome = assert_exit_0_or_one_line(p)
        if outcome == "ok" and command == "run":
            assert p.stdout.strip().endswith(copy.name) and (copy / "rounds" / "002" / "metrics.json").is_file()
        record(f"cli {command}", outcome)


def test_report_of_a_round_without_seconds(finished, tmp_path):
    """`seconds: null` passes summary_problem (null is allowed) and used to raise TypeError."""
    import json

    run, _ = finished
    copy = copy_run(run, tmp_path)
    summary = json.loads((copy / "summary.json").read_text())
    summary["rounds"][1]["seconds"] = None
    (copy / "summary.json").write_text(json.dumps(summary))
    lines = report.write_report(copy, plots=False).splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("| round |") and "| seconds |" in ln)
    header = lines[at]  # the rounds table (the report has a class table with a row "| 1 |" too)
    row = [ln for ln in lines[at:] if ln.startswith("| 1 |")]
    column = [c.strip() for c in header.split("|")].index("seconds")
    assert row and row[0].split("|")[column].strip() == "", row


def test_a_bad_key_in_a_run_config_names_the_file(finished, tmp_path):
    """Found by the fuzz test: one flipped bit made `schedule` `schedume`, and the error
    did not say which file held it."""
    run, _ = finished
    path = copy_run(run, tmp_path) / "config.toml"
    path.write_text(path.read_text().replace("schedule", "schedume"))
    with pytest.raises(C.LthError, match=f"config file {path}: unknown setting 'train.schedume'"):
        C.resolve(config_file=path)
