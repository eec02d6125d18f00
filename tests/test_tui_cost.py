"""The rounds table's cost column: FLOPs spent on rounds 0..r, '*' for an early-bird stop."""

from __future__ import annotations

from tui.state import RunState
from tui.widgets.rounds_table import RoundsTable


def cost(flops: float) -> dict:
    return {"examples": 10, "steps": 1, "epochs": 1, "seconds": 0.1, "train_flops": flops}


def test_cost_column_shows_the_running_total_and_the_early_stop():
    state = RunState()
    state.round_finished(0, sparsity=0.0, val_acc=0.8, test_acc=0.8, cost=cost(2.0e9))
    state.round_finished(1, sparsity=0.2, val_acc=0.8, test_acc=0.8, cost=cost(0.5e9), stopped_at=3)
    state.round_started(2, 0.36, 10)
    assert state.cost_to_reach(1)["train_flops"] == 2.5e9
    assert state.cost_to_reach(2) is None  # round 2 is still training
    cells = [c.plain for c in RoundsTable.cells(state.rounds[1], state)]
    assert cells[-1] == "2.5G*"
    cells = [c.plain for c in RoundsTable.cells(state.rounds[0], state)]
    assert cells[-1] == "2G"
    # a round from before costs were recorded: unknown from there on
    old = RunState()
    old.round_finished(0, sparsity=0.0, val_acc=0.8, test_acc=0.8)
    assert [c.plain for c in RoundsTable.cells(old.rounds[0], old)][-1] == "–"


def test_size_view_shows_params_nonzeros_and_inference_flops():
    state = RunState()
    size = {"params": 23_063, "nonzeros": 4_712, "flops": 9.4e6}
    state.round_finished(0, sparsity=0.0, val_acc=0.8, test_acc=0.8, inference=None)
    state.round_finished(1, sparsity=0.8, val_acc=0.8, test_acc=0.8, inference=size)
    state.round_started(2, 0.9, 10)
    cells = [c.plain for c in RoundsTable.cells(state.rounds[1], state, "size")]
    assert cells[-3:] == ["23.1k", "4.71k", "9.4M"]
    assert [c.plain for c in RoundsTable.cells(state.rounds[0], state, "size")][-3:] == ["–"] * 3
    running = RoundsTable.cells(state.rounds[2], state, "size")
    assert len(running) == len(cells) and [c.plain for c in running][-3:] == ["…"] * 3
    # summary.json rows carry it too (attach, resume)
    other = RunState()
    other.apply_summary({"rounds": [{"round": 1, "sparsity": 0.8, "inference": size}]})
    assert other.rounds[1].inference == size
