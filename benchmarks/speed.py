"""Training speed: lth-tf's defaults against plain Keras fit and against float32, and each setting alone.

Every configuration runs in its own process (benchmarks/speed_worker.py):
oneDNN is fixed when TensorFlow loads. Repetitions are paired and interleaved:
each repetition runs every configuration of a family once, in an order rotated
from one repetition to the next, and a ratio is taken within a repetition, so
slow drift of the machine's load hits both sides of a pair alike. Each repetition
also times a 4096x4096 matmul (float32 and bfloat16): the measured peak that
training's GFLOP/s (6 x dense MACs x examples/s) is compared with.

Configurations (lth_tf runners = `train_round` on the wrapped model, 50% mask):
- keras:   plain Keras fit, TensorFlow's defaults (oneDNN per TF's CPU rule, float32)
- lth_tf:  lth-tf's defaults: the speed settings `lth-tf run` chooses for this workload
           on this CPU (lth_tf/platform/speed.py's rules; workers get an empty
           LTH_CACHE_DIR, so no `lth-tf tune` winner takes part)
- f32:     lth-tf with train.precision=float32 and XLA off (its defaults before they
           were chosen per CPU; oneDNN by the rule)
- base:    f32 with oneDNN off too (every speed setting off)
- onednn:  f32 with oneDNN on (for graphs, where the rule turns it off)
- xla:     f32 with XLA on; bf16: train.precision=mixed_bfloat16 with oneDNN on
Families: ResNet-18 w16, Conv-4 and the smoke preset's tiny CNN on CIFAR-shaped
batches (images/s of training), Kipf's GCN on Cora (epochs/s, validation
included), and the GCN with distillation (`gcn_cora_kd`); `conv4_kd` with --families.
The result is named after the CPU kind (speed_amx.json, speed_avx2.json, ...).

    python benchmarks/speed.py              # ~40 min on 2 cores
    python benchmarks/speed.py --quick      # 1 repetition, ResNet and GCN

Two clocks. Wall clock: images (epochs) per second and GFLOP/s, what a user waits for;
on a machine shared with other work, the CPU a worker gets varies from one minute to the
next and so do these. CPU clock: the same per CPU-second the worker's process used
(`cpu_use` = CPU seconds / wall seconds of the timed epochs; the matmul peak likewise per
core-second), which time-slicing by other processes leaves nearly alone. A wall-clock
target is judged only when the workers had the cores (median cpu_use >= MIN_CORES_USED
of the cores, peak included); otherwise its `met_` is null and the CPU-clock figures say
what was measured.

Resumable: each finished repetition (its peak and every configuration, measured side by
side) is kept in benchmarks/runs/speed/<result name>/; run the same command again and
only the missing repetitions run (`--fresh` measures all again). A ratio is never taken
between repetitions, so a resumed run pairs only what was measured together.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RUNS, cpu_facts, git_commit, write_result

WORKER = Path(__file__).resolve().parent / "speed_worker.py"
ONEDNN_VAR = "TF_ENABLE_ONEDNN_OPTS"
# name -> (runner, TF_ENABLE_ONEDNN_OPTS or None to leave it unset, train overrides or None for defaults)
CONFIGS: dict[str, tuple[str, str | None, dict | None]] = {
    "keras": ("keras", None, None),
    "lth_tf": ("lth_tf", None, None),
    "f32": ("lth_tf", None, {"precision": "float32", "jit_compile": False}),
    "base": ("lth_tf", "0", {"precision": "float32", "jit_compile": False}),
    "onednn": ("lth_tf", "1", {"precision": "float32", "jit_compile": False}),
    "xla": ("lth_tf", "1", {"precision": "float32", "jit_compile": True}),
    "bf16": ("lth_tf", "1", {"precision": "mixed_bfloat16", "jit_compile": False}),
}
# family -> Plan. `core` runs in every repetition; `extra` (each setting alone) only
# in the first. Sized for a shared 2-core machine where one worker process (TF
# import, build, tracing, a few epochs) takes 1-3 minutes.
@dataclass(frozen=True)
class Plan:
    core: tuple[str, ...]
    extra: tuple[str, ...] = ()
    steps: int = 6  # steps per epoch (images); the GCN has 1
    epochs: int = 3
    warmup: int = 1  # epochs not timed (tracing, XLA compilation)
    reps: int | None = None  # None: --reps


FULL = {
    "resnet18_w16": Plan(("keras", "lth_tf", "f32"), ("base", "xla", "bf16")),
    "conv4": Plan(("keras", "lth_tf", "f32"), ("base", "bf16")),
    "tiny_cnn": Plan(("lth_tf", "bf16"), steps=20),
    "gcn_cora": Plan(("keras", "lth_tf", "onednn"), steps=1, epochs=150, warmup=50, reps=3),
    "gcn_cora_kd": Plan(("lth_tf", "onednn"), steps=1, epochs=150, warmup=50, reps=3),
}
OPTIONAL = {"conv4_kd": Plan(("lth_tf", "f32"), reps=1)}  # only with --families
QUICK = {
    "resnet18_w16": Plan(("keras", "lth_tf", "f32"), steps=4, epochs=2),
    "gcn_cora": Plan(("keras", "lth_tf"), steps=1, epochs=100, warmup=50),
}
EMULATED_BF16_STEPS = 2  # bfloat16 without AVX512_BF16/AMX is emulated (~10x slower): keep it short
# (numerator, denominator, what the ratio says)
RATIOS = [
    ("lth_tf", "keras", "lth-tf defaults vs plain Keras fit with TF defaults"),
    ("lth_tf", "f32", "lth-tf's chosen settings vs its float32 defaults"),
    ("f32", "keras", "lth-tf float32 vs plain Keras (wrappers + callbacks)"),
    ("f32", "base", "oneDNN alone (float32)"),
    ("onednn", "lth_tf", "oneDNN on where the rule turns it off"),
    ("xla", "f32", "XLA alone"),
    ("bf16", "f32", "mixed_bfloat16 alone"),
    ("bf16", "lth_tf", "mixed_bfloat16 against lth-tf's choice"),
]
TARGET_CHOSEN_AMX = 1.5  # ResNet-18 w16: chosen / float32 defaults on an AMX CPU
TARGET_PEAK = 0.70  # float32 training GFLOP/s / the float32 4096^2 matmul's
# Below this share of the cores (median cpu_use / cores) a wall-clock target is not judged.
MIN_CORES_USED = 0.8


def run_worker(family: str, name: str, steps: int, epochs: int, warmup: int, data_dir: str | None,
               cache_dir: str) -> dict:
    runner, onednn, overrides = CONFIGS[name]
    native_bf16 = {"avx512_bf16", "amx_bf16"} & set(cpu_facts()["flags"])
    if name == "bf16" and not native_bf16:
        steps, epochs = min(steps, EMULATED_BF16_STEPS), warmup + 1
    spec = {"family": family, "config": name, "runner": runner, "steps": steps, "epochs": epochs,
            "warmup_epochs": warmup, "data_dir": data_dir, "overrides": overrides}
    return _spawn(spec, onednn, cache_dir)


def run_peak(cache_dir: str) -> dict:
    """The 4096^2 matmul peak in its own process, oneDNN on (as lth-tf trains images)."""
    return _spawn({"family": "peak", "config": "peak", "runner": "peak"}, "1", cache_dir)


def _spawn(spec: dict, onednn: str | None, cache_dir: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != ONEDNN_VAR}
    if onednn is not None:
        env[ONEDNN_VAR] = onednn
    env["PYTHONPATH"] = str(WORKER.parent.parent)
    env["LTH_CACHE_DIR"] = cache_dir  # empty: lth-tf's rules, no `lth-tf tune` winner
    t0 = time.time()
    proc = subprocess.run([sys.executable, str(WORKER), json.dumps(spec)], env=env, check=False,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {**spec, "error": proc.stderr.strip().splitlines()[-1:], "seconds": time.time() - t0}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if "per_second" in out:
        out["median_per_second"] = statistics.median(out["per_second"])
        out["median_gflops"] = statistics.median(out["gflops"])
    out["seconds"] = time.time() - t0
    return out


def summarise(family: str, names: list[str], reps: list[dict[str, dict]]) -> dict:
    """Per configuration the median speed and GFLOP/s per repetition; per pair the ratio within
    each repetition; the same per CPU-second (see the module doc: two clocks)."""
    speeds = {n: [r[n].get("median_per_second") for r in reps if n in r] for n in names}

    def per_cpu(r: dict, n: str, key: str) -> float | None:
        w = r.get(n, {})
        return w[key] / w["cpu_use"] if w.get(key) and w.get("cpu_use") else None

    def pair_ratios(value) -> dict:
        out = {}
        for a, b, what in RATIOS:
            if a in names and b in names:
                vals = [value(r, a) / value(r, b) for r in reps if value(r, a) and value(r, b)]
                if vals:
                    out[f"{a}/{b}"] = {"what": what, "median": statistics.median(vals),
                                       "min": min(vals), "max": max(vals), "values": vals}
        return out

    def peak(r: dict, dtype: str, per_core: bool = False) -> float | None:
        p = r.get("peak", {}).get("peak")
        return p and p[dtype]["gflops"] / (p[dtype]["cpu_use"] if per_core else 1.0)

    # Against the peak measured in the same repetition (same load): training GFLOP/s / matmul GFLOP/s.
    peak_share = {n: [r[n]["median_gflops"] / peak(r, "float32") for r in reps
                      if r.get(n, {}).get("median_gflops") and peak(r, "float32")] for n in names}
    peak_share_cpu = {n: [per_cpu(r, n, "median_gflops") / peak(r, "float32", True) for r in reps
                          if per_cpu(r, n, "median_gflops") and peak(r, "float32", True)] for n in names}
    return {"family": family, "unit": "epochs/s" if family.startswith("gcn") else "images/s",
            "speeds": speeds, "ratios": pair_ratios(lambda r, n: r.get(n, {}).get("median_per_second")),
            "speeds_per_cpu_second": {n: [per_cpu(r, n, "median_per_second") for r in reps if n in r] for n in names},
            "ratios_per_cpu_second": pair_ratios(lambda r, n: per_cpu(r, n, "median_per_second")),
            "gflops": {n: [r[n].get("median_gflops") for r in reps if n in r] for n in names},
            "gflops_per_cpu_second": {n: [per_cpu(r, n, "median_gflops") for r in reps if n in r] for n in names},
            "peak_gflops_per_core_second": {d: [peak(r, d, True) for r in reps if peak(r, d, True)]
                                            for d in ("float32", "bfloat16")},
            "peak_cpu_use": [r["peak"]["peak"]["float32"]["cpu_use"] for r in reps if peak(r, "float32")],
            "share_of_f32_peak": peak_share,
            "share_of_f32_peak_per_cpu_second": peak_share_cpu,
            "cpu_use": {n: [r[n].get("cpu_use") for r in reps if n in r] for n in names},
            "settings": {n: reps[0][n].get("settings") for n in names},
            "errors": {n: r[n]["error"] for r in reps for n in names if "error" in r.get(n, {})}}


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--reps", type=int, default=None, help="repetitions per family (default 2; quick 1)")
    p.add_argument("--families", default=None, help="comma-separated subset of the families")
    p.add_argument("--data-dir", default=os.environ.get("LTH_DATA_DIR"))
    p.add_argument("--name", default=None, help="result file name (default speed_<cpu kind>)")
    p.add_argument("--note", default="", help="what else ran on the machine, for the result file")
    p.add_argument("--fresh", action="store_true", help="measure every repetition again (no resume)")
    p.add_argument("--every", default="", help="configurations (e.g. bf16) to run in every repetition of each "
                   "family, not only the first: for a ratio the rules do not know yet on this CPU kind")
    args = p.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.families:
        plan = {f: {**plan, **OPTIONAL}[f] for f in args.families.split(",")}
    every = [c for c in args.every.split(",") if c]
    unknown = sorted(set(every) - set(CONFIGS))
    if unknown:
        p.error(f"--every: unknown configuration(s) {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    plan = {f: Plan(pl.core + tuple(c for c in every if c not in pl.core),
                    tuple(c for c in pl.extra if c not in every), pl.steps, pl.epochs, pl.warmup, pl.reps)
            for f, pl in plan.items()}
    n_reps = args.reps or (1 if args.quick else 2)
    cpu = cpu_facts()
    name = args.name or f"speed_{cpu['kind']}" + (".quick" if args.quick else "")
    kept = RUNS / "speed" / name  # finished repetitions, for a resume
    t0, load_before = time.time(), os.getloadavg()
    families = []
    with tempfile.TemporaryDirectory(prefix="lth-speed-cache-") as cache_dir:
        for family, pl in plan.items():
            reps = []
            for rep in range(pl.reps or n_reps):
                done = kept / f"{family}-rep{rep}.json"
                if done.exists() and not args.fresh:
                    reps.append(json.loads(done.read_text()))
                    reps[-1].setdefault("finished", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(done.stat().st_mtime)))
                    print(family, rep, "kept from", done, flush=True)
                    continue
                names = list(pl.core) + (list(pl.extra) if rep == 0 else [])
                order = names[rep % len(names):] + names[:rep % len(names)]  # rotate: interleaved pairs
                results = {"peak": run_peak(cache_dir)}
                for n in order:
                    results[n] = run_worker(family, n, pl.steps, pl.epochs, pl.warmup, args.data_dir, cache_dir)
                    print(family, rep, n, round(results[n].get("median_per_second", float("nan")), 2),
                          round(results[n].get("median_gflops", float("nan")), 1),
                          results[n].get("error", ""), f"load {os.getloadavg()[0]:.1f}", flush=True)
                results["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
                results["commit"] = git_commit()  # what measured it (a resume may write the file later)
                reps.append(results)
                kept.mkdir(parents=True, exist_ok=True)
                done.write_text(json.dumps(results) + "\n")
            families.append({**summarise(family, [*pl.core, *pl.extra], reps), **asdict(pl),
                             "repetitions": reps})
    by = {f["family"]: f for f in families}
    res = by.get("resnet18_w16", {})
    vs_keras, chosen = res.get("ratios", {}).get("lth_tf/keras"), res.get("ratios", {}).get("lth_tf/f32")
    peaks = [r["peak"]["peak"] for f in families for r in f["repetitions"] if r.get("peak", {}).get("peak")]
    f32_share = _median(res.get("share_of_f32_peak", {}).get("f32", []))
    f32_share_cpu = _median(res.get("share_of_f32_peak_per_cpu_second", {}).get("f32", []))
    chosen_cpu = res.get("ratios_per_cpu_second", {}).get("lth_tf/f32")
    # Did the workers get the cores? (a wall-clock target is judged only then)
    used = {n: _median(v) for n, v in res.get("cpu_use", {}).items()}
    had_cores = {n: u is not None and u >= MIN_CORES_USED * cpu["cores"] for n, u in used.items()}
    peak_had_cores = (_median(res.get("peak_cpu_use", [])) or 0) >= MIN_CORES_USED * cpu["cores"]
    judge_chosen = had_cores.get("lth_tf") and had_cores.get("f32")
    judge_share = had_cores.get("f32") and peak_had_cores
    lth = res.get("settings", {}).get("lth_tf") or {}
    headline = {
        "cpu": cpu,
        "chosen_resnet18_w16": {k: v["value"] for k, v in (lth.get("chosen") or {}).items() if k != "cpu"},
        "ratio_resnet18_w16": vs_keras and vs_keras["median"],
        "ratio_resnet18_w16_range": vs_keras and [vs_keras["min"], vs_keras["max"]],
        **{f"ratio_{f}": by[f]["ratios"].get("lth_tf/keras", {}).get("median") for f in by if f != "resnet18_w16"},
        "chosen_vs_f32_resnet18_w16": chosen and chosen["median"],
        "chosen_vs_f32_resnet18_w16_range": chosen and [chosen["min"], chosen["max"]],
        "chosen_vs_f32": {f: by[f]["ratios"].get("lth_tf/f32", {}).get("median") for f in by},
        "peak_gflops_f32": _median([p["float32"]["gflops"] for p in peaks]),
        "peak_gflops_bf16": _median([p["bfloat16"]["gflops"] for p in peaks]),
        "gflops_resnet18_w16": {n: _median(v) for n, v in res.get("gflops", {}).items()},
        "f32_share_of_peak_resnet18_w16": f32_share,
        "cores_used_resnet18_w16": {n: _median(v) for n, v in res.get("cpu_use", {}).items()},
        "repetitions": res.get("reps") or n_reps,
        "target_vs_keras": 1.5, "met_vs_keras": bool(vs_keras and vs_keras["median"] >= 1.5),
        "target_chosen_vs_f32": TARGET_CHOSEN_AMX if cpu["kind"] == "amx" else None,
        "met_chosen_vs_f32": (bool(chosen and chosen["median"] >= TARGET_CHOSEN_AMX)
                              if cpu["kind"] == "amx" and judge_chosen else None),
        "target_f32_share_of_peak": TARGET_PEAK,
        "met_f32_share_of_peak": (f32_share is not None and f32_share >= TARGET_PEAK) if judge_share else None,
        "wall_clock_judged": {"chosen_vs_f32": bool(judge_chosen), "f32_share_of_peak": bool(judge_share),
                              "min_cores_used": MIN_CORES_USED * cpu["cores"],
                              "peak_cores_used": _median(res.get("peak_cpu_use", []))},
        # The CPU clock (per CPU-second of the worker; the peak per core-second):
        "chosen_vs_f32_resnet18_w16_per_cpu_second": chosen_cpu and chosen_cpu["median"],
        "chosen_vs_f32_resnet18_w16_per_cpu_second_range": chosen_cpu and [chosen_cpu["min"], chosen_cpu["max"]],
        "chosen_vs_f32_per_cpu_second": {f: by[f]["ratios_per_cpu_second"].get("lth_tf/f32", {}).get("median")
                                         for f in by},
        "lth_tf_vs_keras_per_cpu_second": {f: by[f]["ratios_per_cpu_second"].get("lth_tf/keras", {}).get("median")
                                           for f in by},
        "peak_gflops_per_core_second_f32": _median([p["float32"]["gflops"] / p["float32"]["cpu_use"] for p in peaks]),
        "peak_gflops_per_core_second_bf16": _median([p["bfloat16"]["gflops"] / p["bfloat16"]["cpu_use"]
                                                     for p in peaks]),
        "gflops_per_cpu_second_resnet18_w16": {n: _median(v) for n, v in
                                               res.get("gflops_per_cpu_second", {}).items()},
        "f32_share_of_peak_per_cpu_second_resnet18_w16": f32_share_cpu,
        "met_chosen_vs_f32_per_cpu_second": (bool(chosen_cpu and chosen_cpu["median"] >= TARGET_CHOSEN_AMX)
                                             if cpu["kind"] == "amx" else None),
        "met_f32_share_of_peak_per_cpu_second": f32_share_cpu is not None and f32_share_cpu >= TARGET_PEAK,
    }
    contention = {
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        "loadavg_per_worker": {f["family"]: {n: [r[n].get("loadavg") for r in f["repetitions"] if n in r]
                                             for n in f["speeds"]} for f in families},
        "note": "shared 2-core machine: other engineers' tests ran during this benchmark; "
                "cpu_use below 2.0 (cpu seconds / wall seconds of the timed epochs) shows CPU taken by others. "
                + args.note,
    }
    path = write_result(name.removesuffix(".quick"), headline,
                        {"contention": contention, "families": families}, args.quick, time.time() - t0)
    print(path)
    for f in families:
        for clock in ("ratios", "ratios_per_cpu_second"):
            for k, r in f[clock].items():
                print(f"{f['family']:14s} {k:20s} {r['median']:.3f} [{r['min']:.3f}, {r['max']:.3f}]"
                      + ("  per CPU-second" if clock != "ratios" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
