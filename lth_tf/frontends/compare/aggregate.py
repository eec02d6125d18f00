"""Seeds of one setting, aggregated: mean and spread per round, and how sparse it
stays "matching". Pure Python over summary.json contents; no TensorFlow.

A setting is every config value but the seed: runs that differ only in their
seed are seeds of one setting, and a setting is labelled by the values that
differ between the settings compared (e.g. `prune.rewind=lr`).

"Matching" is the benchmarks' definition: the highest sparsity s such that at s
and at every lower pruned sparsity the mean test accuracy over seeds is within
MATCH_POINTS of the dense round's mean. It is reported, never used to choose
(choosing is on validation accuracy).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

MATCH_POINTS = 0.01  # "within 1 point" of dense, accuracy as a fraction


@dataclass(frozen=True)
class Run:
    name: str  # the run directory's name
    settings: dict[str, Any]  # the flattened config, seed excluded
    seed: int
    summary: dict[str, Any]


@dataclass
class Setting:
    label: str
    runs: list[Run]
    rounds: list[dict[str, Any]] = field(default_factory=list)  # per-round mean/std over seeds
    controls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    max_matching_sparsity: float = 0.0

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


def aggregate(setting: Setting) -> Setting:
    """Fill in per-round means, controls and the matching sparsity of one setting."""
    summaries = [r.summary for r in setting.runs]
    n_rounds = min(len(s.get("rounds") or []) for s in summaries)
    rows = []
    for i in range(n_rounds):
        ms = [s["rounds"][i] for s in summaries]
        tm, ts = mean_std(m["test_acc"] for m in ms)
        vm, vs = mean_std(m["val_acc"] for m in ms)
        rows.append({"round": ms[0]["round"], "sparsity": mean_std(m["sparsity"] for m in ms)[0],
                     "test_mean": tm, "test_std": ts, "val_mean": vm, "val_std": vs, "n": len(ms)})
    setting.rounds = rows
    setting.controls = controls_table(summaries)
    setting.max_matching_sparsity = max_matching_sparsity(rows)
    return setting


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


def max_matching_sparsity(rows: list[dict[str, Any]], key: str = "test_mean") -> float:
    """Highest sparsity where this and every lower pruned round is within MATCH_POINTS of dense."""
    if not rows or rows[0]["round"] != 0:
        return 0.0
    dense = rows[0][key]
    best = 0.0
    for row in rows[1:]:
        if row[key] < dense - MATCH_POINTS - 1e-12:
            break
        best = row["sparsity"]
    return best


def _freeze(settings: dict[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in settings.items()))


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return ",".join(str(x) for x in v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
