"""`lth-tf sweep` end to end: cells in worker processes, Ray, a killed sweep, a failing cell.

Each cell is a real `lth-tf run` of a tiny model (one process each, so a few
seconds of TensorFlow start-up per cell).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers.cli import ROOT

from lth_tf.frontends.sweep import index as I
from lth_tf.storage import rundir

pytestmark = pytest.mark.slow  # every test runs `lth-tf sweep` in a subprocess

TINY = ["--preset", "smoke", "--set", "train.epochs=1", "--set", "prune.controls=",
        "--set", "data.val_size=32"]
GRID_2x2 = [*TINY, "--set", "prune.rounds=1", "--seeds", "0-1", "--grid", "prune.rewind=init,lr"]


def env() -> dict[str, str]:
    """This checkout's lth_tf in the sweep and its cells, whatever their cwd (tmp_path for py:)."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def sweep(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "lth_tf.frontends.cli.main", "sweep", *args], capture_output=True, check=False,
                          text=True, cwd=cwd, timeout=900, env=env())
    if check:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def round_events(run_dir: Path) -> list[int]:
    lines = rundir.events_path(run_dir).read_text().splitlines()
    return [e["round"] for e in map(json.loads, lines) if e["event"] == "round_finished"]


def check_all_done(sweep_dir: Path, rounds: int) -> list[I.CellStatus]:
    statuses = I.statuses(sweep_dir)
    assert [s.state for s in statuses] == [I.DONE] * len(statuses)
    for s in statuses:
        assert round_events(s.run_dir) == list(range(rounds + 1)), s.name  # each round trained once
    return statuses


def test_a_2x2_sweep_with_two_jobs_then_a_rerun_trains_nothing(tmp_path):
    out = tmp_path / "sw"
    proc = sweep(*GRID_2x2, "--out", str(out), "--jobs", "2")
    assert proc.stdout.strip() == str(out)
    statuses = check_all_done(out, rounds=1)
    assert sorted((s.label, s.seed) for s in statuses) == [
        ("prune.rewind=init", 0), ("prune.rewind=init", 1), ("prune.rewind=lr", 0), ("prune.rewind=lr", 1)]
    mtimes = {s.name: rundir.summary_path(s.run_dir).stat().st_mtime_ns for s in statuses}
    again = sweep(*GRID_2x2, "--out", str(out), "--jobs", "2")
    assert "0 to run, 4 skipped (4 done)" in again.stderr
    assert {s.name: rundir.summary_path(s.run_dir).stat().st_mtime_ns for s in I.statuses(out)} == mtimes
    check_all_done(out, rounds=1)
    # another grid into the same folder is refused, and writes nothing
    other = sweep(*TINY, "--seeds", "5", "--out", str(out), check=False)
    assert other.returncode == 2 and "another sweep" in other.stderr
    assert len(list(I.runs_dir(out).iterdir())) == 4


def test_a_killed_sweep_resumes_and_trains_no_round_twice(tmp_path):
    out = tmp_path / "sw"
    args = [*TINY, "--set", "prune.rounds=3", "--seeds", "0-1", "--out", str(out), "--jobs", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "lth_tf.frontends.cli.main", "sweep", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
    deadline = time.time() + 600
    first = None
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and I.index_path(out).exists():
            first = I.statuses(out)[0]
            if first.rounds_done >= 2:  # killed mid-cell: rounds 0-1 stored, round 2 running
                break
        time.sleep(0.3)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the cell dies with the sweep (no orphan keeps the run's lock)
    for _ in range(100):
        if I.statuses(out)[0].state != I.RUNNING:
            break
        time.sleep(0.1)
    killed = I.statuses(out)
    assert killed[0].state in (I.PARTIAL, I.DONE) and killed[1].state == I.PENDING
    sweep(*args)
    check_all_done(out, rounds=3)


def test_a_failing_cell_is_recorded_and_the_others_finish(tmp_path):
    (tmp_path / "broken_models.py").write_text(textwrap.dedent('''
        def build(input_shape, num_classes, seed):
            raise RuntimeError("this factory is broken on purpose")
    '''))
    out = tmp_path / "sw"
    args = [*TINY, "--set", "prune.rounds=1", "--grid", "model.name=tiny_cnn,py:broken_models:build",
            "--out", str(out), "--jobs", "2"]
    proc = sweep(*args, cwd=tmp_path, check=False)
    assert proc.returncode == 1
    by_label = {s.label: s for s in I.statuses(out)}
    assert by_label["model.name=tiny_cnn"].state == I.DONE
    broken = by_label["model.name=py:broken_models:build"]
    assert broken.state == I.FAILED and "broken on purpose" in broken.error
    rerun = sweep(*args, cwd=tmp_path, check=False)
    assert rerun.returncode == 1 and "1 to run, 1 skipped (1 done)" in rerun.stderr


@pytest.mark.cluster  # Ray
def test_ray_local_runs_a_grid_sweep(tmp_path):
    """Two cells in two Ray jobs (grid value and seed reach each cell); the 2x2 grid itself, its
    rerun and the labels are the local pool's test above, so two cells (two TF processes) suffice."""
    pytest.importorskip("ray")
    out = tmp_path / "sw"
    args = [*TINY, "--set", "prune.rounds=1", "--seeds", "1", "--grid", "prune.rewind=init,lr"]
    sweep(*args, "--out", str(out), "--jobs", "2", "--ray", "local")
    statuses = check_all_done(out, rounds=1)
    assert sorted((s.label, s.seed) for s in statuses) == [("prune.rewind=init", 1), ("prune.rewind=lr", 1)]
    for s in statuses:  # what each Ray task ran
        lines = rundir.events_path(s.run_dir).read_text().splitlines()
        (config,) = [e["config"] for e in map(json.loads, lines) if e["event"] == "run_started"]
        assert (config["seed"], f"prune.rewind={config['prune']['rewind']}") == (1, s.label)


@pytest.mark.parametrize("bad, words", [
    (["--grid", "prune.nope=1,2"], "prune.nope"),
    (["--grid", "prune.rate=0.2,7"], "prune.rate"),
    (["--seeds", "4-1"], "--seeds"),
    (["--jobs", "0"], "--jobs"),
    (["--set", "train.strategy=multi_worker"], "multi_worker"),
])
def test_bad_sweeps_exit_2_before_writing_anything(tmp_path, bad, words):
    out = tmp_path / "sw"
    proc = sweep(*TINY, *bad, "--out", str(out), check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and words in proc.stderr
    assert not out.exists()


def test_sweep_refuses_a_folder_it_did_not_make(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    proc = sweep(*TINY, "--out", str(out), check=False)
    assert proc.returncode == 2 and "not empty" in proc.stderr
    assert sorted(os.listdir(out)) == ["notes.txt"]
