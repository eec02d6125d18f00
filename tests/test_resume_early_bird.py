"""An early-bird run killed mid-round resumes to the same result as an uninterrupted one.

Same method as tests/test_resume.py (tests/helpers/resume.py: SIGKILL of the CLI
while round 2 trains, rerun, compare with a clean run in another --out), with
early-bird rounds on: the stop rule reads only the round's own weights, so the
redone round stops at the same epoch, and every stored mask and weight is equal
bit for bit.
"""

from __future__ import annotations

import pytest
from helpers.resume import (
    assert_same_stored_rounds,
    assert_same_summaries,
    crash_and_resume,
    smoke_args,
)

pytestmark = pytest.mark.slow  # kill and resume of CLI subprocesses

ROUNDS, EPOCHS = 3, 6
EARLY_BIRD = (
    "prune.early_bird=true",
    "prune.eb_window=2",
    "prune.eb_distance=1.0",  # below 1.0 unless every weight flips: rounds 1 and 2 stop at epoch 3
    "prune.controls=",
)
ARGS = smoke_args(ROUNDS, EPOCHS, *EARLY_BIRD)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    # generous timeouts: TF imports slowly on a loaded machine
    return crash_and_resume(ARGS, tmp_path_factory.mktemp("eb_crashed"), tmp_path_factory.mktemp("eb_clean"),
                            timeout=600)


def test_the_kill_landed_in_an_early_bird_round(runs):
    names = [(e["event"], e.get("round")) for e in runs["killed"]["events"]]
    assert ("epoch_end", 2) in names and ("round_finished", 2) not in names


def test_resumed_early_bird_run_equals_an_uninterrupted_one(runs):
    a, b = assert_same_summaries(runs["run_dir"], runs["clean_dir"])
    assert [r["stopped_at"] for r in b["rounds"]] == [None, 3, 3, None]
    # the same stop epochs, distances and counted work
    for ra, rb in zip(a["rounds"], b["rounds"]):
        assert ra["stopped_at"] == rb["stopped_at"]
        for key in ("examples", "steps", "epochs", "train_flops", "macs"):
            assert ra["cost"][key] == rb["cost"][key]
    assert_same_stored_rounds(runs["run_dir"], runs["clean_dir"], ROUNDS)
