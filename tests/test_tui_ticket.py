"""The TUI names the ticket summary.json names (the winner rule), and says why there is none."""

from __future__ import annotations

from types import SimpleNamespace

from lth_tf.storage.summary import build_summary, pick_winner
from tui.screens.run import RunScreen
from tui.state import RunState


def _summary(vals: list[float], classes: int) -> dict:
    rounds = [{"round": r, "sparsity": 1 - 0.5**r, "val_acc": v, "test_acc": v} for r, v in enumerate(vals)]
    decision = pick_winner(rounds, 0.0, classes, 2)
    ticket = None if decision.round is None else {**{k: rounds[decision.round][k] for k in
                                                      ("round", "sparsity", "test_acc")}, "path": None}
    return build_summary("h", "smoke", "finished", rounds, [], ticket, winner=decision, num_classes=classes)


def test_a_finished_run_at_chance_says_why_it_has_no_ticket():
    state = RunState()
    state.apply_summary(_summary([1 / 3] * 3, classes=3))
    text = RunScreen.ticket_text(SimpleNamespace(state=state))
    assert text.startswith("no winning ticket (dense validation accuracy 33.33% is within 2 points of chance")


def test_the_ticket_is_the_summarys():
    state = RunState()
    state.apply_summary(_summary([0.8, 0.8, 0.7], classes=3))
    assert RunScreen.ticket_text(SimpleNamespace(state=state)) == "ticket round 1: 50.0% sparse, 80.0% test"
