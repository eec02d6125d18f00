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

import pytest
from helpers.resume import (
    assert_same_rewind_point,
    assert_same_stored_rounds,
    assert_same_summaries,
    crash_and_resume,
    smoke_args,
)

from lth_tf.core.events import read_events
from lth_tf.storage import rundir

pytestmark = pytest.mark.slow  # kill and resume of CLI subprocesses

# Three pruning rounds of 3 epochs (a round takes ~1.5 s); the kill lands in round 2.
ROUNDS, EPOCHS = 3, 3
ARGS = smoke_args(ROUNDS, EPOCHS)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return crash_and_resume(ARGS, tmp_path_factory.mktemp("crashed"), tmp_path_factory.mktemp("clean"))


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
    events = read_events(rundir.events_path(run_dir))
    starts = [e for e in events if e["event"] == "run_started"]
    assert [e["resumed_from"] for e in starts] == [None, 1]
    # rounds 0 and 1 were trained once; round 2 was started twice (killed, then redone)
    started = [e["round"] for e in events if e["event"] == "round_started"]
    assert started == [0, 1, 2, *range(2, ROUNDS + 1)]
    finished = [e["round"] for e in events if e["event"] == "round_finished"]
    assert finished == list(range(ROUNDS + 1))
    assert not list(rundir.rounds_dir(run_dir).glob(".*")), "the killed round's temp folder is left"


def test_resumed_run_equals_an_uninterrupted_one(runs):
    assert_same_summaries(runs["run_dir"], runs["clean_dir"])
    assert_same_stored_rounds(runs["run_dir"], runs["clean_dir"], ROUNDS)
    assert_same_rewind_point(runs["run_dir"], runs["clean_dir"])
