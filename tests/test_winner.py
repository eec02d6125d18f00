"""The one winner rule (lth_tf/core/winner.py), pure: which round is the ticket, and why not.

Also that summary.json's `winner` and the LotterySearch use it (`storage.summary.pick_winner`).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lth_tf.core import winner as W
from lth_tf.storage.summary import build_summary, pick_winner


def rows(vals, tests=None, rate=0.2):
    tests = tests or vals
    return [{"round": r, "sparsity": 1 - (1 - rate) ** r, "val_acc": v, "test_acc": t}
            for r, (v, t) in enumerate(zip(vals, tests))]


def test_the_ticket_is_the_sparsest_round_matching_dense_on_validation():
    d = W.decide(rows([0.80, 0.81, 0.78, 0.80, 0.79]), tolerance=0.0, num_classes=7)
    assert d.round == 3 and d.matching == (1, 3) and not d.last_planned
    assert "round 3 is the sparsest" in d.reason
    # test accuracy plays no part in the choice
    d2 = W.decide(rows([0.80, 0.81, 0.78, 0.80, 0.79], [0.8, 0.1, 0.99, 0.1, 0.99]), 0.0, 7)
    assert d2.round == 3


def test_tolerance_is_in_accuracy_fractions_and_its_edge_matches():
    r = rows([0.80, 0.79, 0.785])
    assert W.decide(r, 0.0, 7).round is None
    assert W.decide(r, 0.01, 7).round == 1  # exactly 1 point below dense: matches
    assert W.decide(r, 0.015, 7).round == 2
    assert W.points(0.01) == "1" and "1 point (prune.tolerance = 0.01)" in W.rule_text(0.01)
    assert "(--tolerance = 0.02)" in W.rule_text(0.02, "--tolerance")
    assert "minus each setting's prune.tolerance;" in W.rule_text(None)  # settings that differ


def test_the_edge_matches_for_float32_accuracies_averaged_over_seeds():
    """A Cora compare: dense val 0.77399995 (mean of float32 values), round 1 0.76399994;
    1 point below dense, it was refused when the rule allowed 1e-12 of rounding."""
    import numpy as np

    dense = float(np.mean([np.float32(a) for a in (0.776, 0.758, 0.788)], dtype=np.float64))
    pruned = float(np.mean([np.float32(a) for a in (0.766, 0.748, 0.778)], dtype=np.float64))
    assert W.decide(rows([dense, pruned]), 0.01, 7).round == 1
    assert W.decide(rows([0.774, 0.7639]), 0.01, 7).round is None  # 0.01 points short: no


def test_no_ticket_when_dense_is_within_two_points_of_chance():
    """The issue's MobileNetV2: 33.3% on 3 classes every round was announced as a ticket."""
    stuck = rows([1 / 3] * 3)
    d = W.decide(stuck, tolerance=0.0, num_classes=3)
    assert d.round is None and d.chance == pytest.approx(1 / 3)
    assert "within 2 points of chance (1/3 classes = 33.33%)" in d.reason
    assert W.decide(rows([0.352] * 3), 0.0, 3).round is None  # 1.9 points above: still chance
    assert W.decide(rows([0.36] * 3), 0.0, 3).round == 2  # 2.7 points above: learnt
    assert W.decide(stuck, 0.0, None).round == 2  # classes unknown: no chance check
    # summary.json's winner (what LotterySearch writes) says the same
    assert pick_winner(stuck, 0.0, num_classes=3).round is None


def test_the_last_round_planned_is_a_lower_bound():
    d = W.decide(rows([0.8, 0.8, 0.8]), 0.0, 10, planned_rounds=2)
    assert d.round == 2 and d.last_planned and W.reach(d) == "at least 36.00%"
    assert "last round planned" in d.reason
    d = W.decide(rows([0.8, 0.8, 0.8]), 0.0, 10, planned_rounds=5)
    assert not d.last_planned and W.reach(d) == "36.00%"


def test_missing_or_nan_accuracies_never_match():
    r = rows([0.8, float("nan"), 0.81])
    r[1]["val_acc"] = None
    assert W.decide(r, 0.0, 10).round == 2
    assert W.decide(rows([float("nan"), 0.8]), 0.0, 10).round is None
    assert W.decide([], 0.0, 10).reason.startswith("no dense round")
    assert W.decide(rows([0.8]), 0.0, 10).reason == "no pruned round yet"


def test_compare_rows_use_the_same_rule_on_their_keys():
    means = [{"round": r["round"], "sparsity": r["sparsity"], "val_mean": r["val_acc"]}
             for r in rows([0.8, 0.81, 0.7])]
    assert W.decide(means, 0.0, 10, key="val_mean").round == 1


@given(st.lists(st.floats(0, 1), min_size=2, max_size=12), st.floats(0, 0.05))
def test_the_ticket_matches_and_nothing_sparser_does(vals, tolerance):
    r = rows(vals)
    d = W.decide(r, tolerance, num_classes=None)
    matching = [x for x in r[1:] if x["val_acc"] >= vals[0] - tolerance - W.EPS]
    if not matching:
        assert d.round is None
        return
    assert d.round == max(matching, key=lambda x: (x["sparsity"], x["val_acc"]))["round"]
    assert all(x["sparsity"] <= d.sparsity for x in matching)


def test_summary_json_records_the_decision_and_the_classes():
    r = rows([0.5, 0.52, 0.4])
    d = pick_winner(r, 0.0, num_classes=10, planned_rounds=2)
    s = build_summary("h", None, "running", r, [], None, winner=d, num_classes=10)
    assert s["num_classes"] == 10 and s["ticket"] is None
    assert s["winner"]["round"] == 1 and s["winner"]["matching"] == [1]
    assert s["winner"]["tolerance"] == 0.0 and math.isclose(s["winner"]["chance"], 0.1)
