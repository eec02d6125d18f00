"""cheaper_tickets' results: a ticket read from a run's summary, its per-method summary, and tickets reused from earlier result files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, mean_std


def ticket_of(summary: dict[str, Any]) -> dict[str, Any]:
    """The last round (the ticket at the target sparsity): accuracy and the cost of reaching it."""
    last = summary["rounds"][-1]
    cost = last["cumulative_cost"]
    return {
        "sparsity": last["sparsity"],
        "val_acc": last["val_acc"],
        "test_acc": last["test_acc"],
        "examples": cost["examples"],
        "steps": cost["steps"],
        "epochs": cost["epochs"],
        "train_flops": cost["train_flops"],
        "seconds": cost["seconds"],
        "round_epochs": [r["cost"]["epochs"] for r in summary["rounds"]],
        # {run_dir, config_hash} when round 0 was copied (its cost still counts above)
        "dense_from": summary.get("dense_from"),
    }


def summarise(tickets: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(tickets), "sparsity": tickets[0]["sparsity"]}
    for key in ("test_acc", "val_acc", "examples", "steps", "epochs", "train_flops", "seconds"):
        m, s = mean_std(t[key] for t in tickets)
        out[f"{key}_mean"], out[f"{key}_std"] = m, s
    out["per_seed"] = tickets
    return out


def reused_tickets(path: str, preset: str, methods: list[str], rounds: int, rate: float,
                   n_seeds: int) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Per-seed tickets of `methods` from an earlier result file of the same plan."""
    old = json.loads(Path(path).read_text())
    res = old["presets"][preset]
    if (res["rounds"], res["rate"], res["seeds"]) != (rounds, rate, n_seeds):
        raise SystemExit(f"{path}: {preset} ran {res['rounds']} rounds of {res['rate']} on {res['seeds']} seeds; "
                         f"this run plans {rounds} of {rate} on {n_seeds}")
    tickets = {}
    for m in methods:
        if m == "early_bird" or m.startswith("early_bird@"):  # the threshold must match too
            d = res["eb_distance"] if m == "early_bird" else float(m.split("@", 1)[1])
            m_old = "early_bird" if d == res["eb_distance"] else f"early_bird@{d}"
        else:
            m_old = m
        tickets[m] = res["methods"][m_old]["per_seed"]
    return tickets, {"from": path, "commit": old.get("commit"), "date": old.get("date"), "methods": methods}


def merge_earlier(headline: dict, results: dict, quick: bool) -> tuple[dict, dict]:
    """Keep the presets an earlier result file measured and this run did not (e.g. Cora, then CIFAR)."""
    path = RESULTS / ("cheaper_tickets.quick.json" if quick else "cheaper_tickets.json")
    if not path.exists():
        return headline, results
    old = json.loads(path.read_text())
    keep = [n for n in old.get("presets", {}) if n not in results and "methods" in old["headline"].get(n, {})]
    return ({**{n: old["headline"][n] for n in keep}, **headline},
            {**{n: old["presets"][n] for n in keep}, **results})
