"""Shared helpers for the benchmark scripts: machine facts, result files, workers.

Each benchmark writes one JSON file to benchmarks/results/ with a `headline`
object, the date, the machine and the exact command that produced it. Runs go
through the product's public API (LotterySearch) into benchmarks/runs/
(git-ignored), so an interrupted benchmark resumes from its checkpoints.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
# The benchmarks' targets say "within 1 point of dense": the winner rule (lth_tf/core/winner.py,
# the one definition) with this tolerance, on the mean validation accuracy over seeds.
TOLERANCE = 0.01
RESULTS = ROOT / "results"
RUNS = ROOT / "runs"


def cpu_facts() -> dict[str, Any]:
    """Model, the speed flags and cores of this CPU (lth_tf.platform.speed.Cpu), and its kind."""
    sys.path.insert(0, str(ROOT.parent))
    from lth_tf.platform.speed import Cpu

    cpu = Cpu.read()
    return {**cpu.to_dict(), "kind": cpu_kind(cpu.flags)}


def cpu_kind(flags) -> str:
    """A short name for the CPU kind that decides the speed settings: amx | avx512 | avx2 | other.

    Results of speed benchmarks are named after it (speed_amx.json), so each kind keeps its own."""
    flags = set(flags)
    if "amx_bf16" in flags:
        return "amx"
    if "avx512f" in flags:
        return "avx512"
    return "avx2" if "avx2" in flags else "other"


def machine() -> dict[str, Any]:
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f.readline().split()[1]
    except OSError:
        pass
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    facts = cpu_facts()
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "cpu_flags": facts["flags"],
        "cpu_kind": facts["kind"],
        "memory_gib": round(int(mem) / 2**20, 1) if mem else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gpu": False,
    }


def git_commit() -> str | None:
    try:
        return subprocess.check_output(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True, stderr=subprocess.DEVNULL
        ).strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def write_result(name: str, headline: dict[str, Any], body: dict[str, Any], quick: bool,
                 seconds: float) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / (f"{name}.quick.json" if quick else f"{name}.json")
    payload = {
        "benchmark": name,
        "quick": quick,
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "commit": git_commit(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "wall_seconds": round(seconds, 1),
        "headline": headline,
        **body,
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    return out


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    vals = list(values)
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def run_parallel(fn: Callable, jobs: list[tuple], workers: int) -> list[Any]:
    """Run fn(*job) for every job in separate processes (TF state stays apart)."""
    if workers <= 1:
        return [fn(*job) for job in jobs]
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(fn, *job) for job in jobs]
        return [f.result() for f in futures]


def round_robin(calls: dict[Any, Callable[[], Any]], rounds: int, reps: Callable[[Any], int] = lambda _: 1,
                progress: Callable[[int, dict], None] | None = None) -> dict[Any, dict[str, list[float]]]:
    """Time every call in turns, `rounds` times, the first one rotated each round, so load on a
    shared machine falls on all alike; per call and round the wall and CPU seconds of one call
    (the mean of `reps(name)` calls). For calls that need the CPU clock as well as the wall clock;
    lth_tf/export/latency.py's `interleaved` is the wall-clock loop of the export markers."""
    times: dict[Any, dict[str, list[float]]] = {k: {"wall": [], "cpu": []} for k in calls}
    order = list(calls)
    for r in range(rounds):
        for name in order[r % len(order):] + order[:r % len(order)]:
            n = reps(name)
            w, c = time.perf_counter(), time.process_time()
            for _ in range(n):
                calls[name]()
            times[name]["wall"].append((time.perf_counter() - w) / n)
            times[name]["cpu"].append((time.process_time() - c) / n)
        if progress:
            progress(r, times)
    return times
