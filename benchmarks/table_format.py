"""What every README result row shares: where results live, how they read, what ran them."""

from __future__ import annotations

import json
from pathlib import Path

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
