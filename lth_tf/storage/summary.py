"""The summary of a run: winner picking and summary.json, in one place.

Pure Python over the stored round metrics, so the CLI, the TUI and the Python
API agree on which round is the ticket.
"""

from __future__ import annotations

from typing import Any

from lth_tf.core.cost import cumulative
from lth_tf.storage.rundir import REQUIRED_CONTROL_KEYS, REQUIRED_ROUND_KEYS

# The keys of a round's metrics.json that summary.json's rounds carry (null when absent).
SUMMARY_ROUND_KEYS = (
    *REQUIRED_ROUND_KEYS, "layer_sparsity", "seconds", "distill", "cost",
    "channel_sparsity",  # prune.structure=channels only
    "inference",  # params, nonzeros, flops per example of the round's ticket (flops.inference_size)
)
DENSE_KEYS = ("val_acc", "test_acc")  # summary.json's "dense": round 0's accuracies
TICKET_KEYS = ("round", "sparsity", "test_acc")


def pick_winner(rounds: list[dict[str, Any]], tolerance: float) -> dict[str, Any] | None:
    """The sparsest pruned round whose val_acc is within `tolerance` of dense."""
    if not rounds or rounds[0]["round"] != 0:
        return None
    dense = rounds[0]["val_acc"]
    matching = [m for m in rounds[1:] if m["val_acc"] >= dense - tolerance - 1e-12]
    if not matching:
        return None
    return max(matching, key=lambda m: (m["sparsity"], m["val_acc"]))


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
) -> dict[str, Any]:
    """summary.json (see the contract) from the stored rounds and controls."""
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
    }
