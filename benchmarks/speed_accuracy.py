"""Same accuracy with lth-tf's speed defaults: the dense round, old vs new defaults.

"old" is lth-tf with TF_ENABLE_ONEDNN_OPTS=0 (TensorFlow's default on this AVX2
CPU, what lth-tf did before it turned oneDNN on); "new" leaves the variable
unset, so lth-tf's defaults apply. Each (preset, seed) runs `lth-tf run
--rounds 0` (the dense round, no controls) once per setting, old and new
interleaved, and the test accuracies are compared: the mean difference against
the spread between seeds.

    python benchmarks/speed_accuracy.py                    # cora-gcn and cifar10-resnet18-cpu, 3 seeds
    python benchmarks/speed_accuracy.py --quick            # cora-gcn, 1 seed
    python benchmarks/speed_accuracy.py --seeds 3,1    # 3 Cora seeds, 1 CIFAR seed
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RUNS, mean_std, write_result

ONEDNN_VAR = "TF_ENABLE_ONEDNN_OPTS"
SETTINGS = {"old": "0", "new": None}  # value of TF_ENABLE_ONEDNN_OPTS (None: unset)


def dense_round(preset: str, seed: int, setting: str, data_dir: str | None) -> dict:
    out = RUNS / "speed_accuracy" / setting / f"{preset}-s{seed}"
    env = {k: v for k, v in os.environ.items() if k != ONEDNN_VAR}
    if SETTINGS[setting] is not None:
        env[ONEDNN_VAR] = SETTINGS[setting]
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    cmd = [sys.executable, "-m", "lth_tf.frontends.cli.main", "run", "--preset", preset, "--rounds", "0",
           "--set", "prune.controls=", "--seed", str(seed), "--out", str(out), "--quiet"]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    t0 = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{preset} seed {seed} {setting}: {proc.stderr.strip()[-500:]}")
    (summary_path,) = out.glob("*/summary.json")
    dense = json.loads(summary_path.read_text())["rounds"][0]
    return {"preset": preset, "seed": seed, "setting": setting, "test_acc": dense["test_acc"],
            "val_acc": dense["val_acc"], "seconds": time.time() - t0}


def compare(rows: list[dict], preset: str) -> dict:
    acc = {s: {r["seed"]: r["test_acc"] for r in rows if r["preset"] == preset and r["setting"] == s}
           for s in SETTINGS}
    seeds = sorted(set(acc["old"]) & set(acc["new"]))
    old_m, old_s = mean_std(acc["old"][s] for s in seeds)
    new_m, new_s = mean_std(acc["new"][s] for s in seeds)
    diffs = [acc["new"][s] - acc["old"][s] for s in seeds]
    d_m, d_s = mean_std(diffs)
    spread = max(old_s, new_s)
    return {"seeds": seeds, "old_mean": old_m, "old_std": old_s, "new_mean": new_m, "new_std": new_s,
            "paired_diff_mean": d_m, "paired_diff_std": d_s,
            # "within noise": the mean change is no larger than the seed-to-seed spread
            "within_noise": abs(new_m - old_m) <= spread if len(seeds) > 1 else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--presets", default=None, help="comma-separated (default cora-gcn,cifar10-resnet18-cpu)")
    p.add_argument("--seeds", default=None,
                   help="seeds 0..N-1 per preset: N, or one N per preset as N1,N2 (default 3; quick 1)")
    p.add_argument("--data-dir", default=os.environ.get("LTH_DATA_DIR"))
    args = p.parse_args(argv)
    presets = (args.presets or ("cora-gcn" if args.quick else "cora-gcn,cifar10-resnet18-cpu")).split(",")
    counts = [int(n) for n in (args.seeds or ("1" if args.quick else "3")).split(",")]
    counts = counts * len(presets) if len(counts) == 1 else counts
    t0, rows = time.time(), []
    for preset, n_seeds in zip(presets, counts, strict=True):
        for seed in range(n_seeds):
            order = ("old", "new") if seed % 2 == 0 else ("new", "old")  # interleaved
            for setting in order:
                rows.append(dense_round(preset, seed, setting, args.data_dir))
                print(rows[-1], flush=True)
    results = {preset: compare(rows, preset) for preset in presets}
    headline = {f"{k}_{preset}": v[k] for preset, v in results.items()
                for k in ("old_mean", "new_mean", "within_noise")}
    body = {"settings": {"old": f"{ONEDNN_VAR}=0", "new": f"{ONEDNN_VAR} unset (lth-tf defaults)"},
            "results": results, "runs": rows,
            "note": "shared 2-core machine; timings in `runs` include contention from other processes"}
    path = write_result("speed_accuracy", headline, body, args.quick, time.time() - t0)
    print(path)
    for preset, r in results.items():
        print(f"{preset}: old {r['old_mean']:.4f} ± {r['old_std']:.4f}  new {r['new_mean']:.4f} ± {r['new_std']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
