"""The summary of a run: summary.json, built in one place.

Pure Python over the stored round metrics. Which round is the ticket is
`lth_tf.core.winner.decide` (the one rule); summary.json records its decision
as `winner`, so the CLI, the report, the TUI and the Python API agree.
"""

from __future__ import annotations

from typing import Any

from lth_tf.core import winner as W
from lth_tf.core.cost import cumulative
from lth_tf.storage.rundir import REQUIRED_CONTROL_KEYS, REQUIRED_ROUND_KEYS

# The keys of a round's metrics.json that summary.json's rounds carry (null when absent).
SUMMARY_ROUND_KEYS = (
    *REQUIRED_ROUND_KEYS, "layer_sparsity", "seconds", "distill", "cost",
    "channel_sparsity",  # prune.structure=channels or refill only
    "inference",  # params, nonzeros, flops per example of the round's ticket (flops.inference_size)
)
DENSE_KEYS = ("val_acc", "test_acc")  # summary.json's "dense": round 0's accuracies
TICKET_KEYS = ("round", "sparsity", "test_acc")


def pick_winner(
    rounds: list[dict[str, Any]], tolerance: float, num_classes: int | None = None,
    planned_rounds: int | None = None,
) -> W.Decision:
    """The winning ticket of a run's stored rounds (`lth_tf.core.winner.decide` on val_acc)."""
    return W.decide(rounds, tolerance, num_classes, planned_rounds)


def cost_to_reach(rounds: list[dict[str, Any]], r: int) -> dict[str, float] | None:
    """The compute spent on rounds 0..r (`cost.cumulative`), None if unknown."""
    at = {m["round"]: total for m, total in zip(rounds, cumulative(rounds))}
    return at.get(r)


def build_summary(
    config_hash: str,
    preset: str | None,
    status: str,
    rounds: list[dict[str, Any]],
    controls: list[dict[str, Any]],
    ticket: dict[str, Any] | None,
    winner: W.Decision | None = None,
    num_classes: int | None = None,
) -> dict[str, Any]:
    """summary.json (see the contract) from the stored rounds and controls.

    Additions to the contract: `num_classes` (of the data; the chance level is
    1/num_classes) and `winner`, the rule's decision on the rounds so far
    (`Decision.to_dict()`: round, sparsity, matching, tolerance, chance,
    last_planned, reason). `ticket` stays null until the run finishes.
    """
    dense = rounds[0] if rounds and rounds[0]["round"] == 0 else None
    totals = cumulative(rounds)
    rows = []
    for m, total in zip(rounds, totals):
        row = {k: m.get(k) for k in SUMMARY_ROUND_KEYS}
        row["cumulative_cost"] = total  # the compute spent to reach this round (rounds 0..r)
        row["stopped_at"] = (m.get("early_bird") or {}).get("stopped_at")  # early-bird epoch or None
        rows.append(row)
    return {
        "config_hash": config_hash,
        "preset": preset,
        "status": status,
        "dense": {k: dense[k] for k in DENSE_KEYS} if dense else None,
        "rounds": rows,
        "controls": [{k: c[k] for k in REQUIRED_CONTROL_KEYS} for c in controls],  # costs: in the store
        "ticket": ticket,
        "num_classes": num_classes,
        "winner": None if winner is None else winner.to_dict(),
    }
