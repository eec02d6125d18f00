"""Tickets that match and run faster: weights vs channels vs refill, accuracy per round and served latency.

For each workload and seed, three IMP runs that differ only in `prune.structure`:
- weights: unstructured magnitude pruning (the served model is as wide as dense);
- channels: whole channels by L1 norm (the narrow export is a smaller model);
- refill: IMP-Refill (Chen et al. 2022), magnitude's unstructured mask picks the
  channels kept whole (lth_tf/core/criteria/refill.py); narrow export.
The weights run trains the dense round 0; the channels and refill runs of the same
seed take it with `--dense-from` (every setting round 0 reads is equal), so the
three share one dense network and its rewind point.

Per structure (compare's means over seeds): accuracy per round and the winning
ticket under the winner rule with the benchmarks' 1-point tolerance (the sparsest
round whose mean validation accuracy is at least dense's minus 1 point;
lth_tf/core/winner.py). Then, on seed 0, that round is exported in its default
format (`lth-tf export --round K`: narrow for channels/refill, dense for weights)
beside the dense round 0's export, and both are timed in one process, calls
interleaved (dense, ticket, dense, ...), median seconds per call and the median of
the paired ticket/dense ratios: images at batch 1 and 256 (serving_default, float
images); the GCN as one full-graph call, the dense export's raw dense signature
against the ticket's raw sparse-feature signature (serving_sparse) and its
prepared COO signature (serving_default).

Targets (issue 26): ResNet-18 w16, a refill ticket within 1 point of dense whose
narrow export takes <= 0.5x the dense latency at batch 256 and <= 0.75x at batch 1;
Cora, the served ticket with sparse features <= 0.5x the dense export.

    python benchmarks/faster_tickets.py --workloads cora --seeds 0-4
    python benchmarks/faster_tickets.py --workloads conv4 --seeds 0-2
    python benchmarks/faster_tickets.py --workloads resnet18 --seeds 0
    python benchmarks/faster_tickets.py --quick         # Cora, 1 seed, 2 rounds of 50 epochs

Runs live in benchmarks/runs/faster_tickets[.quick]/WORKLOAD/STRUCTURE/s<SEED>/ and
resume: run the same command again after an interruption and only what is missing
trains. Results: benchmarks/results/faster_tickets_<workloads>.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RUNS, TOLERANCE, cpu_facts, write_result
from benchmarks.structured import structure_rows
from lth_tf.core import winner as W
from lth_tf.frontends.compare import aggregate as A
from lth_tf.frontends.compare.command import load_run

STRUCTURES = ("weights", "channels", "refill")
CIFAR_BATCHES = (1, 256)


@dataclass(frozen=True)
class Workload:
    """A preset with overrides, and how many rounds each structure runs (rate 0.36 a round:
    two of the presets' 20% steps, so channels go 36% -> 59% -> 74% -> 83% removed)."""

    preset: str
    sets: tuple[str, ...]
    rounds: dict[str, int]
    graph: bool = False
    structured_sets: tuple[str, ...] = ()  # for channels and refill only


WORKLOADS = {
    # Cora: weights reach past the GCN's decline (~95%) in 9 rounds; the 16 hidden units
    # go 16-10-6-4-3 over channels' and refill's rounds 1-4, past where they fell before.
    "cora": Workload("cora-gcn", ("prune.controls=",), {"weights": 9, "channels": 4, "refill": 4}, graph=True),
    # Conv-4 (Frankle & Carbin's CIFAR Conv-4 at width 16: 16-16-32-32 filters, a 256-256
    # dense head) with Adam as they trained it; the preset's data split, 4 epochs a round.
    "conv4": Workload("cifar10-resnet18-cpu",
                      ("model.name=conv4", "model.l2=0", "train.optimizer=adam", "train.learning_rate=0.0003",
                       "train.schedule=constant", "prune.controls="),
                      {"weights": 5, "channels": 3, "refill": 3},
                      # Layerwise for the same reason as ResNet-18 below: under the preset's
                      # global scope round 1's 36% of channels fell mostly on the Dense units
                      # (83% of the weights gone, 93% of the MACs kept, b256 1.02x the dense
                      # export; faster_tickets_conv4_global.json).
                      structured_sets=("prune.scope=layerwise",)),
    # ResNet-18 w16: the preset (SGD 0.1, cosine, 4 epochs a round). Channels lost 1.4
    # points in its first round before (structured_cifar10-resnet18-cpu.json), so 2
    # rounds, and refill 2; weights 3, which were still above dense at 93% sparsity
    # before, so its matching sparsity here is a lower bound. Channels and refill prune
    # each layer alike (layerwise): under the preset's global scope the normalised L1
    # scores sent round 1's 36% almost all to stage 4 (stage4_block2_conv1 kept 1 of
    # 128 channels), which left 83% of the MACs and ran at 0.93x the dense latency.
    "resnet18": Workload("cifar10-resnet18-cpu", ("prune.controls=",), {"weights": 3, "channels": 2, "refill": 2},
                         structured_sets=("prune.scope=layerwise",)),
}
RATE = 0.36


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}


def _cli(args: list[str], log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:
        subprocess.run([sys.executable, "-m", "lth_tf", *args], check=True, env=_env(), stdout=out,
                       stderr=subprocess.STDOUT)


def run_dir_in(root: Path) -> Path | None:
    """The one run directory `lth-tf run --out root` made (None before it started)."""
    dirs = [d for d in root.iterdir() if (d / "config.toml").exists()] if root.is_dir() else []
    return dirs[0] if len(dirs) == 1 else None


def train(w: Workload, structure: str, seed: int, root: Path, data_dir: str | None, quick: bool,
          dense_from: Path | None) -> Path:
    """Run (or resume, or find finished) one structure's IMP run; its run directory."""
    out = root / structure / f"s{seed}"
    args = ["run", "--preset", w.preset, "--seed", str(seed), "--out", str(out), "--quiet", "--no-export",
            "--set", f"prune.structure={structure}", "--set", f"prune.rate={RATE}",
            "--set", f"prune.rounds={2 if quick else w.rounds[structure]}"]
    sets = w.sets + (w.structured_sets if structure != "weights" else ()) + (("train.epochs=50",) if quick else ())
    for s in sets:
        args += ["--set", s]
    if data_dir:
        args += ["--data-dir", data_dir]
    if dense_from is not None and run_dir_in(out) is None:
        args += ["--dense-from", str(dense_from)]
    _cli(args, out.parent / f"s{seed}.log")
    found = run_dir_in(out)
    assert found is not None, f"no run directory under {out}"
    return found


def train_all(w: Workload, seeds: list[int], root: Path, data_dir: str | None, quick: bool,
              jobs: int) -> dict[str, dict[int, Path]]:
    """Every (structure, seed) run: per seed, weights first, then channels and refill from its round 0."""

    def one_seed(seed: int) -> dict[str, Path]:
        dense = train(w, "weights", seed, root, data_dir, quick, None)
        return {"weights": dense, **{s: train(w, s, seed, root, data_dir, quick, dense) for s in STRUCTURES[1:]}}

    with ThreadPoolExecutor(max_workers=jobs) as pool:  # each thread waits on its `lth-tf run` processes
        per_seed = dict(zip(seeds, pool.map(one_seed, seeds), strict=True))
    return {s: {seed: per_seed[seed][s] for seed in seeds} for s in STRUCTURES}


def analyse(runs: dict[int, Path]) -> dict[str, Any]:
    """compare's per-round means over seeds and the winning ticket (1-point tolerance)."""
    loaded = [r for r in map(load_run, runs.values()) if r is not None]
    (setting,) = map(A.aggregate, A.group(loaded))
    rows = structure_rows(setting)
    d = W.decide(rows, TOLERANCE, planned_rounds=len(rows) - 1, key=A.VAL_KEY)
    ticket = next((r for r in rows if r["round"] == d.round), None)
    return {"seeds": setting.seeds, "rounds": rows, "ticket_round": d.round, "ticket_reason": d.reason,
            "ticket": ({k: ticket.get(k) for k in ("sparsity", "channels_removed", "flops_removed", "test_mean",
                                                   "test_std", "val_mean")} if ticket else None),
            "dense_test_mean": rows[0]["test_mean"] if rows else None}


def export(run: Path, round_: int, out: Path, data_dir: str | None, fmt: str | None = None) -> Path:
    if not (out / "saved_model.pb").exists():
        args = ["export", str(run), "--round", str(round_), "--out", str(out)]
        args += ["--format", fmt] if fmt else []
        args += ["--data-dir", data_dir] if data_dir else []
        _cli(args, out.parent / "export.log")
    return out


def timed(calls: dict[str, Any], n: int, warmup: int = 5) -> dict[str, Any]:
    """Median seconds per call of each of `calls` (name -> zero-argument function), called in
    turn (the export marker's clock loop, lth_tf/export/latency.py, with a fixed count), and
    the median of each one's paired ratio to the first."""
    from lth_tf.export import latency

    times = latency.interleaved(calls, budget=None, warmup=warmup, max_calls=n)
    base, *others = list(calls)
    return {"calls": n, "median_seconds": latency.medians(times),
            "paired_over_" + base: {k: statistics.median(a / b for a, b in zip(times[k], times[base], strict=True))
                                    for k in others}}


def image_latency(dense: Path, ticket: Path, calls: int) -> dict[str, Any]:
    import numpy as np

    from lth_tf.export import latency
    from lth_tf.platform.backend import tf

    fd = tf.saved_model.load(str(dense)).signatures["serving_default"]
    ft = tf.saved_model.load(str(ticket)).signatures["serving_default"]
    spec = fd.structured_input_signature[1]
    out: dict[str, Any] = {}
    rng = np.random.default_rng(0)
    for b in CIFAR_BATCHES:
        # serving_default takes what the export's data gave: raw uint8 pixels (mean/std known) or floats
        x = latency.random_inputs(spec, b, rng)
        if x is None:
            raise SystemExit(f"{dense}: serving_default's inputs are not fixed-shape float or uint8 tensors")
        diff = float(np.max(np.abs(fd(**x)["logits"].numpy() - ft(**x)["logits"].numpy())))
        res = timed({"dense": lambda x=x: fd(**x)["logits"].numpy(),
                     "ticket": lambda x=x: ft(**x)["logits"].numpy()},
                    calls if b == 1 else max(10, calls // 10))
        out[f"batch_{b}"] = {**res, "ticket_over_dense": res["paired_over_dense"]["ticket"],
                             "max_abs_logit_diff_dense_vs_ticket": diff}
    return out


def graph_latency(run: Path, dense: Path, ticket: Path, calls: int) -> dict[str, Any]:
    from benchmarks.sparse_graph_latency import feeds
    from lth_tf.platform.backend import tf
    from lth_tf.search.lottery import LotterySearch

    inputs = feeds(LotterySearch.open(run).data)
    fd = tf.saved_model.load(str(dense)).signatures["serving_dense"]
    t = tf.saved_model.load(str(ticket))
    fs, fp = t.signatures["serving_sparse"], t.signatures["serving_default"]
    res = timed({"dense_export_raw_dense": lambda: fd(**inputs["dense"])["logits"].numpy(),
                 "ticket_raw_sparse": lambda: fs(**inputs["sparse"])["logits"].numpy(),
                 "ticket_prepared_coo": lambda: fp(**inputs["default"])["logits"].numpy()}, calls)
    return {**res, "ticket_over_dense": res["paired_over_dense_export_raw_dense"]["ticket_raw_sparse"]}


def latency(w: Workload, structure: str, run: Path, result: dict[str, Any], work: Path,
            data_dir: str | None, calls: int) -> dict[str, Any] | None:
    """Seed 0's exports of the winning round (round 1 when no round matched: how fast the
    least pruned model of that structure is) and of dense round 0, timed side by side."""
    k = result["ticket_round"]
    matching = k is not None
    k = k if matching else 1
    dense = export(run, 0, work / "dense_r0", data_dir, "dense")
    ticket = export(run, k, work / f"{structure}_r{k}", data_dir)
    lat = graph_latency(run, dense, ticket, calls) if w.graph else image_latency(dense, ticket, calls)
    return {"round": k, "matching": matching, "export": ticket.name, **lat}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default="cora", help=f"comma-separated, of {', '.join(WORKLOADS)}")
    p.add_argument("--seeds", default=None, help="e.g. 0-4 (default 0; --quick: 0)")
    p.add_argument("--jobs", type=int, default=2, help="seeds trained at once")
    p.add_argument("--calls", type=int, default=200, help="timed calls at batch 1 (batch 256: a tenth)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--data-dir", default=os.environ.get("LTH_DATA_DIR"))
    p.add_argument("--note", default="", help="what else ran on the machine")
    args = p.parse_args(argv)
    a, _, b = (args.seeds or "0").partition("-")
    seeds = list(range(int(a), int(b or a) + 1))
    t0, load_before = time.time(), os.getloadavg()
    body: dict[str, Any] = {"workloads": {}}
    headline: dict[str, Any] = {}
    for name in args.workloads.split(","):
        w = WORKLOADS[name]
        root = RUNS / ("faster_tickets.quick" if args.quick else "faster_tickets") / name
        started = time.time()
        runs = train_all(w, seeds, root, args.data_dir, args.quick, args.jobs)
        results = {s: analyse(runs[s]) for s in STRUCTURES}
        for s in STRUCTURES:
            results[s]["latency"] = latency(w, s, runs[s][seeds[0]], results[s], root / "exports" / s,
                                            args.data_dir, 20 if args.quick else args.calls)
            t = results[s]["ticket"] or {}
            lat = results[s]["latency"] or {}
            headline[f"{name}:{s}:ticket_sparsity"] = t.get("sparsity")
            headline[f"{name}:{s}:ticket_test_minus_dense"] = (
                t["test_mean"] - results[s]["dense_test_mean"] if t else None)
            if w.graph:
                headline[f"{name}:{s}:sparse_features_over_dense_export"] = lat.get("ticket_over_dense")
            else:
                for bsz in CIFAR_BATCHES:
                    headline[f"{name}:{s}:b{bsz}_over_dense"] = (lat.get(f"batch_{bsz}") or {}).get(
                        "ticket_over_dense")
        body["workloads"][name] = {"preset": w.preset, "sets": list(w.sets), "structured_sets": list(w.structured_sets),
                                   "rate": RATE,
                                   "rounds": {s: 2 if args.quick else r for s, r in w.rounds.items()},
                                   "seeds": seeds, "seconds": round(time.time() - started, 1),
                                   "structures": results}
        print(name, {k: v for k, v in headline.items() if k.startswith(name + ":")}, flush=True)
    body.update(cpu=cpu_facts(), contention={"loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                                             "note": args.note})
    result_name = "faster_tickets_" + args.workloads.replace(",", "_")
    print(write_result(result_name, headline, body, args.quick, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
