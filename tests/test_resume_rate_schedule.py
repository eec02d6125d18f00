"""A run on a rate schedule killed mid-round resumes to the same result as an uninterrupted one.

tests/helpers/resume.py's crash (SIGKILL of the CLI while round 2 trains), with
`prune.rate_schedule` and early-bird on: round r's rate is read from the plan,
not from how many rounds this process ran, so the redone round prunes and stops
as the uninterrupted one did.
"""

from __future__ import annotations

import math

import pytest
from helpers.resume import (
    assert_same_stored_rounds,
    assert_same_summaries,
    crash_and_resume,
    smoke_args,
)

pytestmark = pytest.mark.slow  # kill and resume of CLI subprocesses

ROUNDS, EPOCHS = 3, 4
RATES = (0.6, 0.4, 0.2)
ARGS = smoke_args(
    ROUNDS,
    EPOCHS,
    f"prune.rate_schedule={','.join(map(str, RATES))}",
    "prune.early_bird=true",
    "prune.eb_window=1",
    "prune.eb_distance=1.0",  # below 1.0 unless every weight flips: rounds 1 and 2 stop at epoch 2
    "prune.controls=",
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return crash_and_resume(ARGS, tmp_path_factory.mktemp("rs_crashed"), tmp_path_factory.mktemp("rs_clean"),
                            timeout=600)


def test_resumed_scheduled_run_equals_an_uninterrupted_one(runs):
    names = [(e["event"], e.get("round")) for e in runs["killed"]["events"]]
    assert ("epoch_end", 2) in names and ("round_finished", 2) not in names
    _, b = assert_same_summaries(runs["run_dir"], runs["clean_dir"])
    assert [r["stopped_at"] for r in b["rounds"]] == [None, 2, 2, None]
    for r, row in enumerate(b["rounds"]):  # the planned sparsities, within a weight's rounding
        planned = 1 - math.prod(1 - x for x in RATES[:r])
        assert abs(row["sparsity"] - planned) < 1e-3, f"round {r}"
    assert_same_stored_rounds(runs["run_dir"], runs["clean_dir"], ROUNDS)
