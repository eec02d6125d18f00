"""The winning ticket: the one definition of a matching round and of the ticket.

Pure Python over round rows (dicts with `round`, `sparsity` and an accuracy), so
every place that names a ticket uses the same rule: summary.json (written by
`LotterySearch`), `lth-tf report`, `lth-tf export`'s default round, `lth-tf
compare`, the TUI and the sweep index (both read summary.json), and the
benchmarks and the guide's results page (through compare's aggregate).

The rule
--------
- A pruned round **matches** when its validation accuracy is at least the dense
  round's (round 0) minus the tolerance: `val(r) >= val(0) - prune.tolerance`.
  `prune.tolerance` is a fraction of accuracy: 0.0 (the default) asks for "no
  worse than dense", 0.01 for "within 1 point".
- The **winning ticket** is the sparsest matching round (on a tie, the higher
  validation accuracy). It is chosen on validation accuracy alone; its test
  accuracy is what is reported.
- **No ticket** is declared when the dense network is not clearly above chance:
  `val(0) <= 1 / num_classes + CHANCE_MARGIN` (2 points). A network that did not
  learn has nothing to lose by pruning, so every round would "match" it.
- When the ticket is the last round planned, the search never saw a round that
  failed to match: its sparsity is a lower bound, reported as "at least X%".
- Over seeds (`lth-tf compare`, the benchmarks) the same rule is applied to the
  mean over seeds of each round's validation accuracy.

Why this rule:
- Validation, not test: the round is *chosen*, and a choice made on the test set
  reports a maximum of noisy numbers as if it were one measurement.
- The sparsest matching round, without requiring every less sparse round to
  match as well: that is the lottery-ticket papers' notion (a subnetwork matches
  at its sparsity; Frankle & Carbin 2019), and with a small validation set one
  noisy dip would otherwise end the search early.
- One tolerance, the run's own `prune.tolerance`, so that a run's summary, its
  report and `compare` over its seeds agree. "Within 1 point" is not a second
  rule: it is this one with `prune.tolerance = 0.01` (or `lth-tf compare
  --tolerance 0.01` for runs that were made with another value).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

CHANCE_MARGIN = 0.02  # dense validation accuracy must beat 1/num_classes by more than this
VAL, TEST = "val_acc", "test_acc"  # the keys of a run's rounds (compare's rows: val_mean, test_mean)
# Accuracies are ratios of counts that Keras reports as float32 (382/500 -> 0.76399994), and
# compare averages them over seeds: equal ones differ by ~1e-7, never by an example (>= 1e-6).
EPS = 1e-6


@dataclass(frozen=True)
class Decision:
    """Which round is the winning ticket, and why (or why there is none).

    `round`/`sparsity`: the ticket, or None. `matching`: every pruned round that
    matches. `tolerance`, `chance` (1/num_classes, None when the classes are not
    known): what the rule used. `last_planned`: the ticket is the last round
    planned, so its sparsity is a lower bound. `reason`: one line for reports.
    """

    round: int | None
    sparsity: float | None
    matching: tuple[int, ...]
    tolerance: float
    chance: float | None
    last_planned: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (summary.json's `winner`, compare.json)."""
        out = asdict(self)
        out["matching"] = list(self.matching)
        return out


def points(x: float) -> str:
    """An accuracy fraction as points: 0.01 -> '1', 0.005 -> '0.5'."""
    return f"{100 * x:g}"


def points_text(x: float) -> str:
    """'1 point', '0 points', '0.5 points'."""
    return f"{points(x)} point{'' if points(x) == '1' else 's'}"


def rule_text(tolerance: float | None, source: str = "prune.tolerance") -> str:
    """The rule in one sentence, for reports and compare.md.

    `source` names where the tolerance came from (`lth-tf compare --tolerance` overrides
    the settings'); `tolerance` None: settings compared with different tolerances.
    """
    allowance = (
        f"{points_text(tolerance)} ({source} = {tolerance:g})" if tolerance is not None
        else "each setting's prune.tolerance"
    )
    return (
        "the winning ticket is the sparsest pruned round whose validation accuracy is at least "
        f"the dense round's minus {allowance}; "
        "chosen on validation, test reported; none when dense validation accuracy is within "
        f"{points(CHANCE_MARGIN)} points of chance (1/classes)"
    )


def chance_level(num_classes: int | None) -> float | None:
    """1/num_classes, the accuracy of guessing; None when the classes are unknown."""
    return 1.0 / num_classes if num_classes and num_classes > 0 else None


def above_chance(dense_acc: float, num_classes: int | None) -> bool:
    """True when `dense_acc` beats chance by more than CHANCE_MARGIN (or the classes are unknown)."""
    chance = chance_level(num_classes)
    return chance is None or dense_acc > chance + CHANCE_MARGIN + EPS


def matches(acc: float | None, dense_acc: float, tolerance: float) -> bool:
    """Whether a round of accuracy `acc` matches a dense accuracy `dense_acc`."""
    return _finite(acc) and acc >= dense_acc - tolerance - EPS


def decide(
    rows: list[dict[str, Any]],
    tolerance: float,
    num_classes: int | None = None,
    planned_rounds: int | None = None,
    key: str = VAL,
) -> Decision:
    """The winning ticket among `rows` (round 0 first), by the rule in the module docstring.

    `key` names the validation accuracy in the rows (`val_acc` for a run's rounds,
    `val_mean` for compare's means over seeds). `planned_rounds`: the last round
    the search plans (None: unknown, never "at least").
    """

    def none(reason: str, matching: tuple[int, ...] = ()) -> Decision:
        return Decision(None, None, matching, tolerance, chance_level(num_classes), False, reason)

    if not rows or rows[0].get("round") != 0 or not _finite(rows[0].get(key)):
        return none("no dense round (round 0) with a validation accuracy yet")
    dense = float(rows[0][key])
    chance = chance_level(num_classes)
    if not above_chance(dense, num_classes):
        return none(
            f"no ticket: dense validation accuracy {_pct(dense)} is within {points(CHANCE_MARGIN)} "
            f"points of chance (1/{num_classes} classes = {_pct(chance)}), so the dense network "
            "did not learn and no pruned round can be said to match it"
        )
    pruned = rows[1:]
    if not pruned:
        return none("no pruned round yet")
    matching = [r for r in pruned if matches(r.get(key), dense, tolerance)]
    if not matching:
        return none(
            f"no ticket: no pruned round reached dense validation accuracy {_pct(dense)} minus "
            f"{points_text(tolerance)} (prune.tolerance)"
        )
    best = max(matching, key=lambda r: (r["sparsity"], r[key]))
    last = planned_rounds is not None and best["round"] >= planned_rounds
    reason = (
        f"round {best['round']} is the sparsest whose validation accuracy ({_pct(best[key])}) is at "
        f"least dense's ({_pct(dense)}) minus {points_text(tolerance)}"
    )
    if last:
        reason += "; it is the last round planned, so sparser tickets may match too"
    return Decision(int(best["round"]), float(best["sparsity"]),
                    tuple(int(r["round"]) for r in matching), tolerance, chance, last, reason)


def reach(decision: Decision) -> str:
    """The ticket's sparsity as reported: '93.13%', 'at least 98.85%' (last round planned), or '-'."""
    if decision.sparsity is None:
        return "-"
    text = _pct(decision.sparsity)
    return f"at least {text}" if decision.last_planned else text


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"
