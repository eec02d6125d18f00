"""Seeds of one setting, aggregated: mean and spread per round, and its winning ticket.
Pure Python over summary.json contents; no TensorFlow.

A setting is every config value but the seed: runs that differ only in their
seed are seeds of one setting, and a setting is labelled by the values that
differ between the settings compared (e.g. `prune.rewind=lr`). A seed given
twice is refused (`check_seeds`): two runs of one seed are one measurement.

The ticket of a setting is the winner rule (`lth_tf.core.winner`, the same as a
run's summary.json) applied to the mean validation accuracy over seeds per
round, with the setting's `prune.tolerance` (or `lth-tf compare --tolerance`);
its mean test accuracy is reported. `max_matching_sparsity` is that ticket's
sparsity (0.0 without one).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lth_tf.core import winner as W
from lth_tf.core.errors import LthError

VAL_KEY, TEST_KEY = "val_mean", "test_mean"  # the keys of a setting's per-round rows


@dataclass(frozen=True)
class Run:
    name: str  # the run directory's name
    settings: dict[str, Any]  # the flattened config, seed excluded
    seed: int
    summary: dict[str, Any]
    planned_rounds: int | None = None  # the last round the run plans (None: unknown)


@dataclass
class Setting:
    label: str
    runs: list[Run]
    rounds: list[dict[str, Any]] = field(default_factory=list)  # per-round mean/std over seeds
    controls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    decision: W.Decision | None = None  # the winner rule on the mean validation accuracy
    max_matching_sparsity: float = 0.0  # the ticket's sparsity, 0.0 without one
    tolerance_from: str = "prune.tolerance"  # or "--tolerance", when compare was given one

    @property
    def ticket(self) -> dict[str, Any] | None:
        """The row (round, sparsity, means) of the setting's ticket, or None."""
        if self.decision is None or self.decision.round is None:
            return None
        return next((r for r in self.rounds if r["round"] == self.decision.round), None)

    @property
    def seeds(self) -> list[int]:
        return sorted(r.seed for r in self.runs)


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    vals = [float(v) for v in values]
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def flatten(config: dict[str, Any]) -> dict[str, Any]:
    """{'prune': {'rate': 0.2}} -> {'prune.rate': 0.2}: one level, as configs nest."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        for key, value in (v.items() if isinstance(v, dict) else [(None, v)]):
            out[f"{k}.{key}" if key is not None else k] = tuple(value) if isinstance(value, list) else value
    return out


def group(runs: list[Run]) -> list[Setting]:
    """Runs grouped by setting, labelled by the keys whose values differ across settings."""
    keyed: dict[tuple, list[Run]] = {}
    for run in runs:
        keyed.setdefault(_freeze(run.settings), []).append(run)
    keys = sorted({k for r in runs for k in r.settings})
    varying = [k for k in keys if len({repr(r.settings.get(k)) for r in runs}) > 1]
    settings = []
    for members in keyed.values():
        first = members[0].settings
        label = " ".join(f"{k}={_show(first.get(k))}" for k in varying) or "(all runs)"
        settings.append(Setting(label, sorted(members, key=lambda r: r.seed)))
    return sorted(settings, key=lambda s: s.label)


def check_seeds(settings: list[Setting]) -> None:
    """LthError when a setting holds one seed twice (two runs of a seed are not n=2)."""
    for s in settings:
        seen: dict[int, str] = {}
        for run in s.runs:
            if run.seed in seen:
                raise LthError(
                    f"runs {seen[run.seed]} and {run.name} are the same setting ({s.label}) and seed "
                    f"{run.seed}: one measurement, not two; leave one of them out"
                )
            seen[run.seed] = run.name


def aggregate(setting: Setting, tolerance: float | None = None) -> Setting:
    """Fill in per-round means, controls and the ticket of one setting.

    `tolerance`: the winner rule's tolerance; None takes the setting's `prune.tolerance`.
    """
    summaries = [r.summary for r in setting.runs]
    n_rounds = min(len(s.get("rounds") or []) for s in summaries)
    rows = []
    for i in range(n_rounds):
        ms = [s["rounds"][i] for s in summaries]
        tm, ts = mean_std(m["test_acc"] for m in ms)
        vm, vs = mean_std(m["val_acc"] for m in ms)
        rows.append({"round": ms[0]["round"], "sparsity": mean_std(m["sparsity"] for m in ms)[0],
                     TEST_KEY: tm, "test_std": ts, VAL_KEY: vm, "val_std": vs, "n": len(ms)})
    setting.rounds = rows
    setting.controls = controls_table(summaries)
    if tolerance is None:
        tolerance = float(setting.runs[0].settings.get("prune.tolerance") or 0.0)
    else:
        setting.tolerance_from = "--tolerance"
    classes = {s.get("num_classes") for s in summaries}
    planned = {r.planned_rounds for r in setting.runs}
    setting.decision = W.decide(
        rows, tolerance,
        num_classes=classes.pop() if len(classes) == 1 else None,
        planned_rounds=planned.pop() if len(planned) == 1 else None,
        key=VAL_KEY,
    )
    setting.max_matching_sparsity = setting.decision.sparsity or 0.0
    return setting


def ticket_of(
    rows: list[dict[str, Any]], tolerance: float, num_classes: int | None = None,
    planned_rounds: int | None = None, measure: str = "sparsity",
) -> float:
    """`measure` (a fraction removed: `sparsity`, or a benchmark's `channels_removed`,
    `flops_removed`) at the winner rule's ticket among compare's per-round rows (chosen on
    their mean validation accuracy); 0.0 without a ticket, NaN when the row lacks `measure`.
    The benchmarks and the results page (docs/results.md) call this."""
    d = W.decide(rows, tolerance, num_classes, planned_rounds, key=VAL_KEY)
    if d.round is None:
        return 0.0
    value = next(r for r in rows if r["round"] == d.round).get(measure)
    return float("nan") if value is None else float(value)


def controls_table(summaries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    controls = [c for s in summaries for c in (s.get("controls") or [])]
    for kind in sorted({c["kind"] for c in controls}):
        rows = []
        for r in sorted({c["round"] for c in controls if c["kind"] == kind}):
            cs = [c for c in controls if c["kind"] == kind and c["round"] == r]
            tm, ts = mean_std(c["test_acc"] for c in cs)
            rows.append({"round": r, "sparsity": mean_std(c["sparsity"] for c in cs)[0],
                         "test_mean": tm, "test_std": ts, "n": len(cs)})
        out[kind] = rows
    return out


def _freeze(settings: dict[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in settings.items()))


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return ",".join(str(x) for x in v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
