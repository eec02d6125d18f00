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


def ran_where(res: dict) -> str:
    m = res["machine"]
    cpu = f"{m['cpu']}{' (' + ', '.join(m['cpu_flags']) + ')' if m.get('cpu_flags') else ''}, " if m.get("cpu") else ""
    return f"{res['date']}, {cpu}{m['cores']} cores, {m.get('memory_gib')} GiB, no GPU, commit {res.get('commit')}"
