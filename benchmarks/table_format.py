"""What every result row (docs/results.md) shares: where results live, how they read, what ran them,
and which round of a stored per-round table is the winning ticket."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.common import TOLERANCE
from lth_tf.core import winner as W

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def load_result(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def ran_where(res: dict, load: tuple[float, float] | None = None) -> str:
    """Date, CPU (model and speed flags), cores, memory, commit; `load`: the 1-minute load
    average range the benchmark saw (timings on a shared machine read beside it)."""
    m = res["machine"]
    cpu = f"{m['cpu']}{' (' + ', '.join(m['cpu_flags']) + ')' if m.get('cpu_flags') else ''}, " if m.get("cpu") else ""
    seen = f", load average {load[0]:.1f}-{load[1]:.1f}" if load else ""
    return (f"{res['date']}, {cpu}{m['cores']} cores, {m.get('memory_gib')} GiB, no GPU, "
            f"commit {res.get('commit')}{seen}")


def load_range(values) -> tuple[float, float] | None:
    """(min, max) of the 1-minute load averages in `values` (numbers or loadavg triples)."""
    ones = [v[0] if isinstance(v, list | tuple) else v for v in values if v is not None]
    return (min(ones), max(ones)) if ones else None


def ticket(rows: list[dict[str, Any]], planned: int | None = None) -> dict[str, Any] | None:
    """The winning ticket among a benchmark's stored per-round means (compare's rows), by the
    winner rule with the benchmarks' 1-point tolerance on mean validation accuracy: its row,
    plus `at_least` when it is the last round planned. None without one. The results page
    (docs/results.md) reads every ticket through this, so old result files are read by today's rule."""
    decision = W.decide(rows, TOLERANCE, planned_rounds=planned, key="val_mean")
    if decision.round is None:
        return None
    row = next(r for r in rows if r["round"] == decision.round)
    return {**row, "at_least": decision.last_planned}


def reach(t: dict[str, Any] | None, key: str = "sparsity", digits: int = 2) -> str:
    """'98.56%', '≥ 95.60%' (the last round planned), or '0%' without a ticket."""
    if t is None:
        return "0%"
    return f"{'≥ ' if t['at_least'] else ''}{pct(t.get(key), digits)}"
