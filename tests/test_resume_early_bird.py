"""An early-bird run killed mid-round resumes to the same result as an uninterrupted one.

Same method as tests/test_resume.py (SIGKILL of the CLI while round 2 trains,
rerun, compare with a clean run in another --out), with early-bird rounds on:
the stop rule reads only the round's own weights, so the redone round stops at
the same epoch, and every stored mask and weight is equal bit for bit.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from test_resume import cli, comparable, finish, wait_for_event

from lth_tf import store
from lth_tf.events import read_events

ROUNDS, EPOCHS = 3, 6
ARGS = [
    "run",
    "--preset",
    "smoke",
    "--rounds",
    str(ROUNDS),
    "--set",
    f"train.epochs={EPOCHS}",
    "--set",
    "prune.early_bird=true",
    "--set",
    "prune.eb_window=2",
    "--set",
    "prune.eb_distance=1.0",  # below 1.0 unless every weight flips: rounds 1 and 2 stop at epoch 3
    "--set",
    "prune.controls=",
    "--seed",
    "3",
    "--quiet",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    crashed_out = tmp_path_factory.mktemp("eb_crashed")
    clean_out = tmp_path_factory.mktemp("eb_clean")
    clean = cli(*ARGS, "--out", str(clean_out))
    proc = cli(*ARGS, "--out", str(crashed_out))
    run_dir = None
    deadline = time.monotonic() + 600  # generous: TF imports slowly on a loaded machine
    while run_dir is None and time.monotonic() < deadline:
        dirs = [d for d in crashed_out.iterdir() if d.is_dir()]
        run_dir = dirs[0] if dirs else None
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()[1]}")
        time.sleep(0.02)
    assert run_dir is not None, "no run dir appeared"
    events = store.events_path(run_dir)
    wait_for_event(events, proc, lambda e: e["event"] == "round_finished" and e["round"] == 1, timeout=600)
    wait_for_event(events, proc, lambda e: e["event"] == "epoch_end" and e["round"] == 2, timeout=300)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    names = [(e["event"], e.get("round")) for e in read_events(events)]
    finish(cli(*ARGS, "--out", str(crashed_out)), timeout=600)
    clean_stdout, _ = finish(clean, timeout=600)
    return {"run_dir": run_dir, "clean_dir": Path(clean_stdout.strip()), "killed_events": names}


def test_the_kill_landed_in_an_early_bird_round(runs):
    names = runs["killed_events"]
    assert ("epoch_end", 2) in names and ("round_finished", 2) not in names


def test_resumed_early_bird_run_equals_an_uninterrupted_one(runs):
    a = json.loads(store.summary_path(runs["run_dir"]).read_text())
    b = json.loads(store.summary_path(runs["clean_dir"]).read_text())
    assert a["status"] == b["status"] == "finished"
    assert comparable(a) == comparable(b)
    assert [r["stopped_at"] for r in b["rounds"]] == [None, 3, 3, None]
    # the same stop epochs, distances and counted work
    for ra, rb in zip(a["rounds"], b["rounds"]):
        assert ra["stopped_at"] == rb["stopped_at"]
        for key in ("examples", "steps", "epochs", "train_flops", "macs"):
            assert ra["cost"][key] == rb["cost"][key]
    sa, sb = store.RunStore(runs["run_dir"]), store.RunStore(runs["clean_dir"])
    for r in range(ROUNDS + 1):
        wa, ma, meta_a = sa.load_round(r)
        wb, mb, meta_b = sb.load_round(r)
        assert meta_a["early_bird"] == meta_b["early_bird"], f"round {r}"
        assert all(ma[k].tobytes() == mb[k].tobytes() for k in ma), f"round {r} masks"
        assert all(x.tobytes() == y.tobytes() for x, y in zip(wa, wb)), f"round {r} weights"
