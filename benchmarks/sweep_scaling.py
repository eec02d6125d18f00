"""Sweep throughput: the same Cora sweep with --jobs 1, --jobs 2 and Ray (2 CPUs).

A sweep of SEEDS seeds x 2 settings (prune.rewind=init,lr) of `cora-gcn`, run
three times from scratch into fresh folders, one engine after the other on the
same machine, and timed end to end (process start-up, TensorFlow import and
Ray start included: that is what a user waits for). The per-cell test
accuracies must be equal across engines: same configs, same seeds. Rounds are
cut (`--rounds`) so the three sweeps fit in minutes on 2 cores; the ratio of
wall times is the result, not the absolute times, which vary with the machine.

    python benchmarks/sweep_scaling.py              # 5 seeds x 2 settings, 2 rounds, 100 epochs
    python benchmarks/sweep_scaling.py --quick      # 2 seeds x 2 settings, 1 round, 50 epochs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RUNS, write_result

ENGINES = {"jobs1": ["--jobs", "1"], "jobs2": ["--jobs", "2"], "ray2": ["--jobs", "2", "--ray", "local"]}


def run_sweep(engine: str, seeds: int, rounds: int, epochs: int, data_dir: str | None, out: Path) -> dict:
    if out.exists():
        shutil.rmtree(out)  # ours (benchmarks/runs): a timed sweep starts from nothing
    cmd = [sys.executable, "-m", "lth_tf.frontends.cli.main", "sweep", "--preset", "cora-gcn", "--seeds", f"0-{seeds - 1}",
           "--grid", "prune.rewind=init,lr", "--set", f"prune.rounds={rounds}", "--set", f"train.epochs={epochs}",
           "--set", "prune.controls=", "--out", str(out), *ENGINES[engine]]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    t0 = time.time()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    seconds = time.time() - t0
    index = json.loads((out / "sweep.json").read_text())
    accs = {}
    for cell in index["cells"]:
        summary = json.loads((out / cell["run_dir"] / "summary.json").read_text())
        accs[cell["name"]] = [r["test_acc"] for r in summary["rounds"]]
    return {"engine": engine, "seconds": seconds, "cells": len(index["cells"]), "test_acc": accs}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--data-dir", default=os.environ.get("LTH_DATA_DIR"))
    p.add_argument("--note", default="", help="what else ran on the machine")
    args = p.parse_args(argv)
    seeds = args.seeds or (2 if args.quick else 5)
    rounds = args.rounds or (1 if args.quick else 2)
    epochs = args.epochs or (50 if args.quick else 100)
    t0, load_before = time.time(), os.getloadavg()
    results = []
    for engine in ENGINES:
        r = run_sweep(engine, seeds, rounds, epochs, args.data_dir, RUNS / "sweep_scaling" / engine)
        print(f"{engine:6s} {r['seconds']:7.1f} s  ({r['cells']} cells)", flush=True)
        results.append(r)
    by = {r["engine"]: r for r in results}
    base = by["jobs1"]["test_acc"]
    same = all(r["test_acc"] == base for r in results)
    headline = {
        "cells": by["jobs1"]["cells"], "seeds": seeds, "settings": 2, "rounds": rounds, "epochs": epochs,
        **{f"seconds_{e}": round(by[e]["seconds"], 1) for e in ENGINES},
        "speedup_jobs2": by["jobs1"]["seconds"] / by["jobs2"]["seconds"],
        "speedup_ray2": by["jobs1"]["seconds"] / by["ray2"]["seconds"],
        "same_accuracies": same,
    }
    body = {"contention": {"loadavg_before": load_before, "loadavg_after": os.getloadavg(), "note": args.note},
            "runs": results}
    path = write_result("sweep_scaling", headline, body, args.quick, time.time() - t0)
    print(path)
    print(json.dumps(headline, indent=1))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
