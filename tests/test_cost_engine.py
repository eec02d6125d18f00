"""A real search records what every round cost, and its early-bird rounds stop by the rule.

Images (tiny CNN) and the GCN with KD; the rule is re-checked from the distances
each round stored, so a round stops at the first epoch where the last
`eb_window` distances are all below `eb_distance`, and trains in full otherwise.
"""

from __future__ import annotations

import math

import pytest
from helpers.lottery import first_stop

from lth_tf.core import config as C
from lth_tf.core.events import ListSink
from lth_tf.frontends.report import write_report
from lth_tf.keras_side import flops
from lth_tf.keras_side import pruning as P
from lth_tf.search.lottery import LotterySearch

pytestmark = pytest.mark.slow  # two searches of 6 and 10 epochs a round

EPOCHS, WINDOW, DISTANCE = 6, 2, 0.5
IMAGE = C.resolve(
    "smoke",
    overrides=[
        "model.width=4",
        f"train.epochs={EPOCHS}",
        "data.val_size=32",
        "train.batch_size=32",
        "prune.rounds=3",
        "prune.rate=0.4",
        "prune.controls=random_reinit",
        "prune.early_bird=true",
        f"prune.eb_window={WINDOW}",
        f"prune.eb_distance={DISTANCE}",
    ],
)
GCN_KD = C.resolve(
    "smoke",
    overrides=[
        "data.name=synthetic_graph",
        "model.name=gcn",
        "model.hidden=8",
        "train.epochs=10",
        "prune.rounds=2",
        "prune.rate=0.5",
        "prune.controls=",
        "distill.enabled=true",
        "prune.early_bird=true",
        f"prune.eb_window={WINDOW}",
        f"prune.eb_distance={DISTANCE}",
    ],
)


def search(exp, tmp_path):
    sink = ListSink()
    s = LotterySearch(exp, out=tmp_path, sink=sink)
    for _ in s.rounds():
        pass
    summary = s.finish(export=False)
    return s, summary, sink.events


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    return search(IMAGE, tmp_path_factory.mktemp("eb_image"))


@pytest.fixture(scope="module")
def gcn_run(tmp_path_factory):
    return search(GCN_KD, tmp_path_factory.mktemp("eb_gcn"))


def check_rule(s, exp) -> list[int | None]:
    """Every round obeys the early-bird rule; returns each round's stop epoch."""
    p, epochs = exp.prune, exp.train.epochs
    last = exp.planned_rounds
    stops = []
    for r in range(last + 1):
        m = s.store.round_metrics(r)
        if r in (0, last):  # the dense round and the ticket train in full
            assert m["early_bird"] is None
            assert m["cost"]["epochs"] == epochs
            stops.append(None)
            continue
        eb = m["early_bird"]
        want = first_stop(eb["distances"], p.eb_distance, p.eb_window)
        assert eb["stopped_at"] == want, f"round {r}"
        assert m["cost"]["epochs"] == m["epochs_run"] == (want or epochs)
        assert len(eb["distances"]) == m["epochs_run"] - 1  # one per epoch after the first
        assert all(0.0 <= d <= 1.0 for d in eb["distances"])
        stops.append(want)
    return stops


def test_image_rounds_stop_by_the_rule(image_run):
    s, _, events = image_run
    stops = check_rule(s, IMAGE)
    assert any(stops), "no round stopped early: the test would not show the rule firing"
    # epoch_end events carry the distance in early-bird rounds, from their second epoch
    for r in range(IMAGE.planned_rounds + 1):
        got = [e.get("mask_distance") for e in events if e["event"] == "epoch_end" and e["round"] == r]
        want = s.store.round_metrics(r)["early_bird"]
        if want is None:
            assert got == [None] * len(got)
        else:
            assert got == [None, *want["distances"]]


def test_costs_add_up(image_run):
    s, summary, _ = image_run
    data = s.data
    per_epoch_steps = math.ceil(len(data.x_train) / IMAGE.train.batch_size)
    assert len(data.x_train) % IMAGE.train.batch_size == 0  # so examples = steps x batch exactly
    running = dict.fromkeys(("examples", "steps", "epochs", "seconds", "train_flops"), 0)
    for row in summary["rounds"]:
        c = row["cost"]
        assert c["steps"] == c["epochs"] * per_epoch_steps
        assert c["examples"] == c["steps"] * IMAGE.train.batch_size
        assert c["train_flops"] == flops.train_flops(c["macs"], c["examples"])
        assert c["macs"] <= c["dense_macs"] and c["nonzero_params"] <= c["params"]
        running = {k: running[k] + c[k] for k in running}
        assert row["cumulative_cost"] == pytest.approx(running)
    # sparser rounds cost fewer MACs per example; the dense round costs its dense figure
    macs = [row["cost"]["macs"] for row in summary["rounds"]]
    assert macs == sorted(macs, reverse=True) and macs[0] == summary["rounds"][0]["cost"]["dense_macs"]
    control = s.store.control_metrics("random_reinit", IMAGE.planned_rounds)
    assert control["cost"]["epochs"] == IMAGE.train.epochs and control["cost"]["examples"] > 0


def test_rounds_record_the_ticket_size_as_served(image_run):
    s, summary, events = image_run
    finished = {e["round"]: e for e in events if e["event"] == "round_finished"}
    for row in summary["rounds"]:
        wrapped = s.model_for_round(row["round"])
        zeros = sum(int((m == 0).sum()) for m in P.get_masks(wrapped).values())
        size = row["inference"]
        assert finished[row["round"]]["inference"] == size
        assert size["params"] == P.strip(wrapped).count_params()
        assert size["nonzeros"] == size["params"] - zeros  # trained biases and norms are nonzero
        assert size["flops"] == 2 * row["cost"]["macs"]


def test_report_shows_the_cost_of_each_round(image_run):
    s, summary, _ = image_run
    text = write_report(s.run_dir, plots=False)
    assert "FLOPs to here" in text
    if summary["ticket"]:
        assert "cost of the ticket" in text
    if any(r["stopped_at"] for r in summary["rounds"]):
        assert "early-bird round stopped" in text


def test_gcn_with_kd_stops_by_the_rule_and_counts_every_node(gcn_run):
    s, summary, _ = gcn_run
    check_rule(s, GCN_KD)
    nodes = s.data.a.shape[0]
    for row in summary["rounds"]:
        c = row["cost"]
        assert c["steps"] == c["epochs"]  # full batch: one step per epoch
        assert c["examples"] == c["steps"] * nodes
    assert summary["rounds"][1]["distill"] is not None  # KD trained the early-bird round
