"""events.jsonl files written by earlier versions still replay in `lth-tui --attach`.

The fixtures under tests/fixtures/events-*-v1/ are the config.toml and events.jsonl of
real `lth-tf run --preset smoke` runs (the second with prune.one_shot=true and one
epoch), recorded before the events became typed records. They hold no summary.json,
so everything the screen shows comes from the events. Expected values are read from
the files with plain json/tomllib, not through lth_tf.
"""

from __future__ import annotations

import asyncio
import tomllib

import pytest
from helpers.tui import FIXTURES, named, raw_events, replay

from lth_tf.core import events
from tui.widgets.acc_chart import ChartData

SMOKE = FIXTURES / "events-smoke-v1"
ONE_SHOT = FIXTURES / "events-oneshot-v1"


@pytest.mark.parametrize("run_dir", [SMOKE, ONE_SHOT], ids=["smoke", "one_shot"])
def test_events_written_before_typed_records_replay_in_attach(run_dir):
    screen = asyncio.run(replay(run_dir))
    state = screen.state
    started = named(run_dir, "run_started")[0]
    assert (state.model, state.dataset, state.planned_rounds) == (
        started["model"], started["dataset"], started["rounds"])
    controls = named(run_dir, "control_finished")
    assert controls and {(c["kind"], c["round"]) for c in controls} == set(state.controls)
    for e in named(run_dir, "round_finished"):
        info = state.rounds[e["round"]]
        epochs = [x for x in named(run_dir, "epoch_end") if x["round"] == e["round"]]
        assert info.history["val_acc"] == [x["val_acc"] for x in epochs]
        assert info.layer_sparsity == e["layer_sparsity"]


def test_every_recorded_event_parses_to_a_typed_record_and_back():
    for run_dir in (SMOKE, ONE_SHOT):
        for raw in raw_events(run_dir):
            assert events.parse(raw).to_dict() == raw


def test_one_shot_chart_axis_reaches_the_final_sparsity():
    """One-shot runs plan one pruning round that reaches 1-(1-rate)**rounds at once."""
    prune = tomllib.loads((ONE_SHOT / "config.toml").read_text())["prune"]
    assert prune["one_shot"] is True and prune["rounds"] > 1
    final = 1 - (1 - prune["rate"]) ** prune["rounds"]
    screen = asyncio.run(replay(ONE_SHOT))
    assert screen.state.planned_rounds == 1
    assert ChartData.from_state(screen.state).final_sparsity == pytest.approx(final)
    last = named(ONE_SHOT, "round_started")[-1]
    assert last["target_sparsity"] == pytest.approx(final)  # what the engine planned
