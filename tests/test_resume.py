"""`lth-tf run` killed mid-round resumes to the same result as an uninterrupted run.

A real crash: the CLI runs in a subprocess that gets SIGKILL while round 2
trains (after round 1's `round_finished` is in events.jsonl). Running the same
command again must resume after round 1, and the finished run must equal an
uninterrupted run with the same seed in another --out: the same rounds
(sparsity, val/test accuracy, layer sparsity), controls and winning ticket,
and the stored masks and weights bit for bit.

This holds without `train.deterministic`: every round starts from a fresh
session seeded from (seed, round) and reads its inputs from the stored
checkpoints, and on this CPU build the tiny CNN's kernels give bit-identical
results from process to process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lth_tf import store
from lth_tf.events import read_events

ROOT = Path(__file__).resolve().parents[1]
# Three pruning rounds of 3 epochs (a round takes ~1.5 s); the kill lands in round 2.
ROUNDS, EPOCHS = 3, 3
ARGS = [
    "run",
    "--preset",
    "smoke",
    "--rounds",
    str(ROUNDS),
    "--set",
    f"train.epochs={EPOCHS}",
    "--seed",
    "3",
    "--quiet",
]
ROUND_KEYS = ("round", "sparsity", "val_acc", "test_acc", "layer_sparsity", "distill")


def cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "lth_tf.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out, err


def wait_for_event(events: Path, proc: subprocess.Popen, pred, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(pred(e) for e in read_events(events)):
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before the event came: {proc.communicate()[1]}")
        time.sleep(0.02)
    raise AssertionError("timed out waiting for an event")


def comparable(summary: dict) -> dict:
    """summary.json without what may differ between runs (times, paths)."""
    ticket = summary["ticket"]
    return {
        "config_hash": summary["config_hash"],
        "status": summary["status"],
        "dense": summary["dense"],
        "rounds": [{k: r[k] for k in ROUND_KEYS} for r in summary["rounds"]],
        "controls": summary["controls"],
        # the SavedModel's bytes vary a little (fingerprints, uids); the ticket's numbers do not
        "ticket": ticket and {k: ticket[k] for k in ("round", "sparsity", "test_acc")},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    crashed_out = tmp_path_factory.mktemp("crashed")
    clean_out = tmp_path_factory.mktemp("clean")
    # The uninterrupted run trains alongside the one that gets killed.
    clean = cli(*ARGS, "--out", str(clean_out))

    proc = cli(*ARGS, "--out", str(crashed_out))
    run_dir = None
    deadline = time.monotonic() + 60
    while run_dir is None and time.monotonic() < deadline:
        dirs = [d for d in crashed_out.iterdir() if d.is_dir()]
        run_dir = dirs[0] if dirs else None
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()[1]}")
        time.sleep(0.02)
    assert run_dir is not None, "no run dir appeared"
    events = store.events_path(run_dir)
    wait_for_event(events, proc, lambda e: e["event"] == "round_finished" and e["round"] == 1)
    # inside round 2's training: after its first epoch, before its last
    wait_for_event(events, proc, lambda e: e["event"] == "epoch_end" and e["round"] == 2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed = {
        "completed": sorted(
            int(p.name) for p in store.rounds_dir(run_dir).iterdir() if p.name.isdigit()
        ),
        "events": read_events(events),
        "summary": json.loads(store.summary_path(run_dir).read_text()),
    }

    out, err = finish(cli(*ARGS, "--out", str(crashed_out)))
    clean_stdout, _ = finish(clean)
    return {
        "run_dir": run_dir,
        "clean_dir": Path(clean_stdout.strip()),
        "stdout": out,
        "stderr": err,
        "killed": killed,
    }


def test_the_kill_landed_in_round_2(runs):
    killed = runs["killed"]
    assert killed["completed"] == [0, 1]
    assert killed["summary"]["status"] == "running"
    assert [r["round"] for r in killed["summary"]["rounds"]] == [0, 1]
    names = [(e["event"], e.get("round")) for e in killed["events"]]
    assert ("epoch_end", 2) in names and ("round_finished", 2) not in names


def test_rerun_resumes_after_the_last_stored_round(runs):
    run_dir = runs["run_dir"]
    assert runs["stdout"] == f"{run_dir}\n"
    assert "resuming after round 1" in runs["stderr"]
    events = read_events(store.events_path(run_dir))
    starts = [e for e in events if e["event"] == "run_started"]
    assert [e["resumed_from"] for e in starts] == [None, 1]
    # rounds 0 and 1 were trained once; round 2 was started twice (killed, then redone)
    started = [e["round"] for e in events if e["event"] == "round_started"]
    assert started == [0, 1, 2, *range(2, ROUNDS + 1)]
    finished = [e["round"] for e in events if e["event"] == "round_finished"]
    assert finished == list(range(ROUNDS + 1))
    assert not list(store.rounds_dir(run_dir).glob(".*")), "the killed round's temp folder is left"


def test_resumed_run_equals_an_uninterrupted_one(runs):
    a = json.loads(store.summary_path(runs["run_dir"]).read_text())
    b = json.loads(store.summary_path(runs["clean_dir"]).read_text())
    assert a["status"] == b["status"] == "finished"
    assert comparable(a) == comparable(b)
    for r in range(ROUNDS + 1):
        wa, ma, _ = store.RunStore(runs["run_dir"]).load_round(r)
        wb, mb, _ = store.RunStore(runs["clean_dir"]).load_round(r)
        assert ma.keys() == mb.keys()
        for name in ma:
            assert ma[name].dtype == mb[name].dtype
            assert ma[name].tobytes() == mb[name].tobytes(), f"round {r} mask {name}"
        assert len(wa) == len(wb)
        for i, (x, y) in enumerate(zip(wa, wb)):
            assert x.tobytes() == y.tobytes(), f"round {r} weight {i}"
    ra = np.load(store.rewind_path(runs["run_dir"]))
    rb = np.load(store.rewind_path(runs["clean_dir"]))
    assert all(ra[k].tobytes() == rb[k].tobytes() for k in ra.files)
