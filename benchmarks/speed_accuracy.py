"""Same accuracy with the speed settings lth-tf chooses for this CPU: chosen vs float32.

"chosen" is `lth-tf run` with its defaults (the speed settings of lth_tf/platform/speed.py
for this CPU and workload; the runs get an empty LTH_CACHE_DIR, so no `lth-tf tune`
winner takes part); "float32" adds `--set train.precision=float32` (what lth-tf did
before it chose per CPU). Each setting runs in its own process, the two interleaved
(which goes first alternates), and every run records the chosen settings
(RUN_DIR/runtime.json), the CPU and the load.

- dense: cifar10-resnet18-cpu `--rounds 0` for seeds 0..N-1: the mean test accuracy
  difference against the spread between seeds;
- imp: cifar10-resnet18-cpu with 4 pruning rounds, 1 seed: test accuracy per round, and
  per layer the count of kept weights in each round's mask (global magnitude pruning
  ranks weights across layers, so per-layer counts follow the trained weights; the
  total is exact: both must keep exactly the planned count).

    python benchmarks/speed_accuracy.py                       # dense 3 seeds + imp (~2-3 h on 2 cores)
    python benchmarks/speed_accuracy.py --only dense --seeds 1
Runs resume from benchmarks/runs/speed_accuracy/ when re-run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RUNS, cpu_facts, mean_std, write_result

PRESET = "cifar10-resnet18-cpu"
SETTINGS = {"chosen": [], "float32": ["--set", "train.precision=float32"]}
IMP_ROUNDS = 4


def run(kind: str, seed: int, setting: str, rounds: int, data_dir: str | None, cache_dir: str) -> dict:
    """One `lth-tf run` (resumes when its run dir exists); its rounds, settings and masks."""
    out = RUNS / "speed_accuracy" / setting / f"{kind}-s{seed}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "LTH_CACHE_DIR": cache_dir}
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    cmd = [sys.executable, "-m", "lth_tf", "run", "--preset", PRESET, "--rounds", str(rounds),
           "--set", "prune.controls=", "--seed", str(seed), "--out", str(out), "--quiet", "--no-export",
           *SETTINGS[setting]]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    t0, load0 = time.time(), os.getloadavg()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} seed {seed} {setting}: {proc.stderr.strip()[-500:]}")
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text())
    runtime = json.loads((run_dir / "runtime.json").read_text())
    rounds_out = []
    for r in summary["rounds"]:
        with np.load(run_dir / "rounds" / f"{r['round']:03d}" / "masks.npz") as z:
            kept = {k[2:]: int(z[k].sum()) for k in z.files}
        rounds_out.append({"round": r["round"], "test_acc": r["test_acc"], "val_acc": r["val_acc"],
                           "sparsity": r["sparsity"], "seconds": r["seconds"], "kept": kept,
                           "best_epoch": r.get("best_epoch")})
    return {"kind": kind, "seed": seed, "setting": setting, "run_dir": str(run_dir),
            "chosen": {k: v["value"] for k, v in runtime.items() if k != "cpu"},
            "chosen_reason": runtime["precision"]["reason"], "rounds": rounds_out,
            "wall_seconds": time.time() - t0, "loadavg_before": load0, "loadavg_after": os.getloadavg()}


def dense_summary(rows: list[dict]) -> dict:
    acc = {s: {r["seed"]: r["rounds"][0]["test_acc"] for r in rows if r["kind"] == "dense" and r["setting"] == s}
           for s in SETTINGS}
    seeds = sorted(set(acc["chosen"]) & set(acc["float32"]))
    c_m, c_s = mean_std(acc["chosen"][s] for s in seeds)
    f_m, f_s = mean_std(acc["float32"][s] for s in seeds)
    d_m, d_s = mean_std(acc["chosen"][s] - acc["float32"][s] for s in seeds)
    spread = max(c_s, f_s)
    return {"seeds": seeds, "chosen_mean": c_m, "chosen_std": c_s, "float32_mean": f_m, "float32_std": f_s,
            "paired_diff_mean": d_m, "paired_diff_std": d_s,
            # "within noise": the mean change is no larger than the seed-to-seed spread
            "within_noise": abs(c_m - f_m) <= spread if len(seeds) > 1 else None}


def imp_summary(rows: list[dict]) -> dict | None:
    by = {r["setting"]: r for r in rows if r["kind"] == "imp"}
    if set(by) != set(SETTINGS):
        return None
    out = []
    for a, b in zip(by["chosen"]["rounds"], by["float32"]["rounds"], strict=True):
        layers = sorted(set(a["kept"]) | set(b["kept"]))
        diff = {k: a["kept"].get(k, 0) - b["kept"].get(k, 0) for k in layers}
        out.append({"round": a["round"], "sparsity": [a["sparsity"], b["sparsity"]],
                    "test_acc": {"chosen": a["test_acc"], "float32": b["test_acc"]},
                    "kept_total": {"chosen": sum(a["kept"].values()), "float32": sum(b["kept"].values())},
                    "layers_with_equal_count": sum(1 for v in diff.values() if v == 0), "layers": len(layers),
                    "largest_layer_count_difference": max((abs(v) for v in diff.values()), default=0),
                    "count_difference_by_layer": {k: v for k, v in diff.items() if v}})
    return {"rounds": out,
            "totals_equal": all(r["kept_total"]["chosen"] == r["kept_total"]["float32"] for r in out),
            "per_layer_counts_equal": all(not r["count_difference_by_layer"] for r in out)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3, help="dense-round seeds 0..N-1 (default 3)")
    p.add_argument("--only", choices=("dense", "imp"), default=None)
    p.add_argument("--data-dir", default=os.environ.get("LTH_DATA_DIR"))
    p.add_argument("--note", default="", help="what else ran on the machine, for the result file")
    args = p.parse_args(argv)
    t0, rows = time.time(), []
    jobs = []
    if args.only in (None, "dense"):
        jobs += [("dense", seed, 0) for seed in range(args.seeds)]
    if args.only in (None, "imp"):
        jobs += [("imp", 0, IMP_ROUNDS)]
    with tempfile.TemporaryDirectory(prefix="lth-speed-acc-cache-") as cache_dir:
        for i, (kind, seed, rounds) in enumerate(jobs):
            order = ("chosen", "float32") if i % 2 == 0 else ("float32", "chosen")  # interleaved
            for setting in order:
                rows.append(run(kind, seed, setting, rounds, args.data_dir, cache_dir))
                last = rows[-1]
                print(kind, seed, setting, [round(r["test_acc"], 4) for r in last["rounds"]],
                      last["chosen"]["precision"], f"{last['wall_seconds']:.0f} s", flush=True)
    dense = dense_summary(rows) if any(r["kind"] == "dense" for r in rows) else None
    imp = imp_summary(rows)
    headline = {"cpu": cpu_facts(), "preset": PRESET,
                "chosen": next((r["chosen"] for r in rows if r["setting"] == "chosen"), None)}
    if dense:
        headline.update({k: dense[k] for k in ("chosen_mean", "float32_mean", "chosen_std", "float32_std",
                                                "within_noise")} | {"seeds": len(dense["seeds"])})
    if imp:
        headline["imp"] = {"rounds": IMP_ROUNDS,
                           "test_acc": {r["round"]: r["test_acc"] for r in imp["rounds"]},
                           "totals_equal": imp["totals_equal"], "per_layer_counts_equal": imp["per_layer_counts_equal"]}
    body = {"settings": {"chosen": "lth-tf defaults (speed settings chosen for this CPU)",
                         "float32": "--set train.precision=float32"},
            "dense": dense, "imp": imp, "runs": rows,
            "note": "shared 2-core machine; timings in `runs` include contention from other processes. " + args.note}
    path = write_result(f"speed_accuracy_{headline['cpu']['kind']}", headline, body, False, time.time() - t0)
    print(path)
    if dense:
        print(f"dense: chosen {dense['chosen_mean']:.4f} ± {dense['chosen_std']:.4f}  "
              f"float32 {dense['float32_mean']:.4f} ± {dense['float32_std']:.4f}")
    if imp:
        for r in imp["rounds"]:
            print(f"imp round {r['round']}: {r['test_acc']}, kept {r['kept_total']}, "
                  f"{r['layers_with_equal_count']}/{r['layers']} layers with equal counts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
