"""The compute a run spent: per-training cost records and their running totals. Pure Python.

Each round and control stores a `cost` dict (written by `flops.training_cost`):
examples, steps, epochs, seconds, train_flops, and the model's dense_macs, macs
(nonzero, per example), params and nonzero_params during that training. The cost
of reaching round r is the sum over rounds 0..r (controls are not needed to reach
a ticket, so they are not in it): `cumulative`.
"""

from __future__ import annotations

from typing import Any

# The additive figures: summing them over rounds gives the cost of reaching a round.
ADDITIVE = ("examples", "steps", "epochs", "seconds", "train_flops")


def cumulative(rounds: list[dict[str, Any]]) -> list[dict[str, float] | None]:
    """Running totals of the additive cost figures over `rounds` (sorted by round).

    A round stored before costs were recorded has no `cost`; from there on the
    total is unknown (None).
    """
    totals: dict[str, float] | None = {k: 0 for k in ADDITIVE}
    out: list[dict[str, float] | None] = []
    for r in rounds:
        c = r.get("cost")
        if totals is None or not isinstance(c, dict) or any(c.get(k) is None for k in ADDITIVE):
            totals = None
        else:
            totals = {k: totals[k] + c[k] for k in ADDITIVE}
        out.append(None if totals is None else dict(totals))
    return out


def human(x: float | None, unit: str = "") -> str:
    """A short figure with an SI prefix: 1.23e12 -> '1.23 T'."""
    if x is None:
        return ""
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        # 999.6e6 rounds to 3 digits as 1000 M ("1e+03 M"): it reads as 1 G
        if abs(float(f"{x:.3g}")) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}".rstrip()
    return f"{x:.3g} {unit}".rstrip()
