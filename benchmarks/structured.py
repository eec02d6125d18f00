"""Structured (channels) vs unstructured (weights) pruning: accuracy vs sparsity and vs FLOPs.

One product sweep per preset, `--grid prune.structure=weights,channels` over the
seeds, then `lth_tf.frontends.compare` groups the cells by setting (mean and std over
seeds per round). For each structure it reports how far pruning goes at the
winning ticket (lth_tf/core/winner.py, the one definition, with the benchmarks'
1-point tolerance: the sparsest round whose mean validation accuracy is at least
dense's minus 1 point; `compare.aggregate.ticket_of`), measured three ways on
that round:

- `sparsity`: fraction of the prunable weights that are zero (the run's own
  figure; for channels the weights of removed channels and their readers' rows),
- `channels_removed`: fraction of prunable channels removed (channels runs only),
- `flops_removed`: 1 - inference FLOPs / dense inference FLOPs, from each round's
  `inference` size (`flops.inference_size`: the narrowed model for channels, the
  nonzero weights of the masked model for weights).

    python benchmarks/structured.py                         # Cora, 5 seeds, 9 rounds of 36%
    python benchmarks/structured.py --quick                 # Cora, 2 seeds, 2 rounds, 50 epochs
    python benchmarks/structured.py --presets cifar10-resnet18-cpu --seeds 0   # 6 rounds of 36%

The sweep folder (benchmarks/runs/structured/PRESET) resumes: re-running after an
interruption trains only what is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RUNS, TOLERANCE, write_result
from lth_tf.frontends.compare import aggregate as A
from lth_tf.frontends.compare.command import load_run, run_dirs

STRUCTURES = ("weights", "channels")
# (rounds, rate) per preset. Rate 0.36 = two of the presets' 20% steps per round
# (0.64**k = 0.8**(2k)): the weights runs visit every second sparsity of the preset's
# schedule, reach past Cora's decline (~95%, benchmarks/results/cora_lottery.json)
# in 9 rounds, and the 16 GCN units go 16-10-6-4-3-2-1 over rounds 1-6.
DEFAULTS = {"cora-gcn": (9, 0.36), "cifar10-resnet18-cpu": (6, 0.36)}


def run_sweep(preset: str, seeds: str, rounds: int, rate: float, epochs: int | None, jobs: int,
              data_dir: str | None, out: Path) -> None:
    cmd = [sys.executable, "-m", "lth_tf.frontends.cli.main", "sweep", "--preset", preset, "--seeds", seeds,
           "--grid", "prune.structure=" + ",".join(STRUCTURES), "--set", f"prune.rounds={rounds}",
           "--set", f"prune.rate={rate}", "--set", "prune.controls=", "--jobs", str(jobs), "--out", str(out)]
    if epochs:
        cmd += ["--set", f"train.epochs={epochs}"]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)


def structure_rows(setting: A.Setting) -> list[dict[str, Any]]:
    """compare's per-round means, plus channel fraction, inference size and FLOPs removed."""
    rows = []
    for i, row in enumerate(setting.rounds):
        ms = [run.summary["rounds"][i] for run in setting.runs]
        sizes = [m.get("inference") or {} for m in ms]
        flops = A.mean_std(s["flops"] for s in sizes if s.get("flops") is not None)[0] if all(sizes) else None
        rows.append({
            **row,
            "channels_removed": A.mean_std(m.get("channel_sparsity") or 0.0 for m in ms)[0],
            "params": A.mean_std(s.get("params", 0) for s in sizes)[0] if all(sizes) else None,
            "nonzeros": A.mean_std(s.get("nonzeros", 0) for s in sizes)[0] if all(sizes) else None,
            "flops": flops,
        })
    dense_flops = rows[0]["flops"] if rows else None
    for row in rows:
        row["flops_removed"] = (1 - row["flops"] / dense_flops) if dense_flops and row["flops"] else None
    return rows


def matching(rows: list[dict[str, Any]], measure: str) -> float:
    """`measure` (a fraction removed) at the winning ticket: the winner rule with the
    benchmarks' 1-point tolerance, on the mean validation accuracy (A.ticket_of)."""
    return A.ticket_of(rows, TOLERANCE, measure=measure)


def analyse(sweep: Path) -> dict[str, Any]:
    runs = [run for run in map(load_run, run_dirs([str(sweep)])) if run is not None]
    out: dict[str, Any] = {}
    for setting in map(A.aggregate, A.group(runs)):
        structure = setting.runs[0].settings.get("prune.structure", "weights")
        rows = structure_rows(setting)
        at = {m: matching(rows, m) for m in ("sparsity", "channels_removed", "flops_removed")}
        out[structure] = {
            "seeds": setting.seeds,
            "max_matching": at,
            "dense_test_mean": rows[0]["test_mean"] if rows else None,
            "rounds": rows,
        }
    return out


def headline_of(preset: str, result: dict[str, Any]) -> dict[str, Any]:
    h: dict[str, Any] = {}
    for structure, r in result.items():
        for measure, value in r["max_matching"].items():
            if structure == "weights" and measure == "channels_removed":
                continue  # weight pruning removes no channel by design
            h[f"{preset}:{structure}:max_matching_{measure}"] = value
    return h


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", default="cora-gcn", help="comma-separated preset names")
    p.add_argument("--seeds", default=None, help="e.g. 0-4 (default; --quick: 0-1)")
    p.add_argument("--rounds", type=int, default=None, help="pruning rounds (default per preset)")
    p.add_argument("--rate", type=float, default=None, help="prune.rate (default per preset)")
    p.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--data-dir", default=os.environ.get("LTH_DATA_DIR"))
    p.add_argument("--note", default="", help="what else ran on the machine")
    args = p.parse_args(argv)
    seeds = args.seeds or ("0-1" if args.quick else "0-4")
    t0, load_before = time.time(), os.getloadavg()
    results, headline = {}, {}
    for preset in args.presets.split(","):
        rounds, rate = DEFAULTS.get(preset, (9, 0.36))
        rounds = args.rounds or (2 if args.quick else rounds)
        rate = args.rate or rate
        epochs = args.epochs or (50 if args.quick else None)
        sweep = RUNS / ("structured.quick" if args.quick else "structured") / preset
        started = time.time()
        run_sweep(preset, seeds, rounds, rate, epochs, args.jobs, args.data_dir, sweep)
        seconds = round(time.time() - started, 1)  # ~0 when the sweep had already finished
        structures = analyse(sweep)
        results[preset] = {"rounds": rounds, "rate": rate, "epochs": epochs, "seeds": seeds, "sweep_seconds": seconds,
                           "structures": structures}
        headline.update(headline_of(preset, structures))
        print(f"{preset}: {json.dumps(headline_of(preset, structures), indent=1)}", flush=True)
    body = {
        "measures": {
            "sparsity": "fraction of prunable weights that are zero (channels: removed channels' "
                        "weights and their readers' input rows)",
            "channels_removed": "fraction of prunable channels (conv filters, Dense/GCN units) removed",
            "flops_removed": "1 - inference FLOPs / dense round's inference FLOPs (flops.inference_size)",
        },
        "contention": {"loadavg_before": load_before, "loadavg_after": os.getloadavg(), "note": args.note},
        "presets": results,
    }
    name = "structured" if args.presets == "cora-gcn" else "structured_" + args.presets.replace(",", "_")
    print(write_result(name, headline, body, args.quick, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
