"""Efficiency of exported tickets: size on disk against the bound, and serving latency.

Size: `variables/` of the sparse SavedModel (lth_tf.export.sparse) over the
bound (4 bytes per nonzero pruned weight + 1 bit per pruned weight + 4 bytes per
other weight), uncompressed, for
  - ResNet-18 width 64 (11.2M weights), untrained, random masks at 50..99%;
  - the Cora GCN's tickets, every round from 50% sparsity up, of a cora-gcn
    lottery run (trained weights; the run resumes from benchmarks/runs/efficiency).
Latency: median seconds per call of each export kind's serving signature,
loaded with tf.saved_model.load in this process, against the dense export:
  - the GCN on all of Cora (one call = the whole graph), at the run's last round;
  - ResNet-18 w16 and Conv-4 on CIFAR-shaped input (batch 1 and 256), untrained,
    random masks at 90% and 98%.
Export kinds are functions in EXPORTS (dense, sparse = rebuild convs + sparse
matmul above 90%, sparse_rebuild = every kernel rebuilt dense).
Narrowed latency: the narrow export (lth_tf/export/formats/narrow.py: a physically smaller
model) of channel-pruned models against the dense export of the same masked
model, with 50% and 75% of each prunable layer's channels removed (lowest L1
first): the GCN (round 0 weights of the Cora run), ResNet-18 w16 and Conv-4.
TFLite latency (benchmarks/tflite_latency.py): the .tflite with sparse-stored
kernels against the dense .tflite of the same model, Conv-4 and LeNet-300-100
on CIFAR-shaped input at 0/50/90/95%, median of paired (interleaved) ratios.

    python benchmarks/efficiency.py [--quick] [--data-dir /work/shared/data]
    python benchmarks/efficiency.py --only narrow      # just the narrowed latency -> efficiency_narrow.json
    python benchmarks/efficiency.py --only tflite      # just the TFLite latency -> efficiency_tflite.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RUNS, write_result
from benchmarks.serving import EXPORTS, export_dense, export_sparse, latencies


# -- helpers -------------------------------------------------------------------------------------
def _random_masks(wrapped, kernels: dict[str, np.ndarray], sparsity: float, seed: int):
    """Random masks of `sparsity` over the unpruned `kernels` (P.get_kernels before any
    mask; masks do not compound); (stripped model, pruned variables)."""
    from lth_tf.export import sparse
    from lth_tf.keras_side import pruning as P

    rng = np.random.default_rng(seed)
    P.set_masks(wrapped, {k: (rng.random(v.shape) >= sparsity).astype(np.float32)
                             for k, v in kernels.items()})
    P.set_kernels(wrapped, kernels)  # kernel * new mask
    plain = P.strip(wrapped)
    return plain, sparse.pruned_weights(wrapped, plain)


def _size_row(path: Path, model: str, sparsity: float, **extra: Any) -> dict[str, Any]:
    from lth_tf.export import description, directory_size

    w = description(path)["weights"]
    stored = directory_size(path / "variables")
    return {"model": model, "sparsity": sparsity, **extra, "variables_bytes": stored,
            "bound_bytes": w["bound_bytes"], "ratio": stored / w["bound_bytes"],
            "nonzeros": w["nonzeros"], "pruned_weights": w["pruned_weights"]}


# -- size ------------------------------------------------------------------------------------
def resnet64_sizes(sparsities: list[float], work: Path) -> list[dict[str, Any]]:
    from lth_tf.core import config as C
    from lth_tf.export import directory_size
    from lth_tf.keras_side import models
    from lth_tf.keras_side import pruning as P
    from lth_tf.platform.backend import keras

    keras.backend.clear_session()
    wrapped = P.wrap(models.build(C.Model(name="resnet18", width=64), (32, 32, 3), 10, 0))
    kernels = P.get_kernels(wrapped)
    rows = []
    for i, s in enumerate(sparsities):
        plain, pruned = _random_masks(wrapped, kernels, s, seed=i)
        path = export_sparse(plain, pruned, None, work / f"resnet64-{i}")
        rows.append(_size_row(path, "resnet18_w64_untrained", s))
        assert abs(1 - rows[-1]["nonzeros"] / rows[-1]["pruned_weights"] - s) < 0.01, rows[-1]
        if i == 0:
            dense = export_dense(plain, pruned, None, work / "resnet64-dense")
            rows[-1]["dense_variables_bytes"] = directory_size(dense / "variables")
    return rows


def gcn_run(rounds: int, data_dir: str | None, first_only: bool = False):
    """The cora-gcn run (resumed from benchmarks/runs/efficiency); `first_only`: stop after round 0."""
    from lth_tf.core import config as C
    from lth_tf.search.lottery import LotterySearch

    exp = C.resolve("cora-gcn", overrides=[f"prune.rounds={rounds}", "prune.controls="])
    search = LotterySearch(exp, out=RUNS / "efficiency", data_dir=data_dir)
    for _ in search.rounds():
        if first_only:
            break
    return search


def gcn_sizes(search, work: Path) -> list[dict[str, Any]]:
    from lth_tf.export import directory_size
    from lth_tf.export.ticket import export_round

    rows = []
    for r in search.completed_rounds():
        sparsity = search.store.round_metrics(r)["sparsity"]
        if sparsity < 0.5 and r != 0:
            continue
        path = export_round(search, r, work / f"gcn-{r}", format="sparse")
        row = _size_row(path, "gcn_cora", sparsity, round=r)
        if r == 0:
            row["dense_variables_bytes"] = directory_size(export_round(search, 0, work / "gcn-dense") / "variables")
        rows.append(row)
    return rows


# -- latency ---------------------------------------------------------------------------------
def gcn_latency(search, work: Path, calls: int) -> list[dict[str, Any]]:
    from lth_tf.export import sparse
    from lth_tf.keras_side import pruning as P

    r = search.completed_rounds()[-1]
    wrapped = search.model_for_round(r)
    plain = P.strip(wrapped)
    pruned = sparse.pruned_weights(wrapped, plain)
    paths = {k: f(plain, pruned, search.data, work / f"gcn-lat-{k}") for k, f in EXPORTS.items()}
    x, a = search.data.inputs()
    feeds = {"x_indices": x.indices, "x_values": x.values, "x_dense_shape": x.dense_shape,
             "a_indices": a.indices, "a_values": a.values, "a_dense_shape": a.dense_shape}
    sec = latencies(paths, "serving_default", feeds, calls)
    return [{"model": "gcn_cora", "round": r, "sparsity": search.store.round_metrics(r)["sparsity"],
             "batch": "whole graph (2708 nodes)", "seconds": sec,
             "vs_dense": {k: v / sec["dense"] for k, v in sec.items()}}]


def image_latency(name: str, width: int | None, sparsities: list[float], work: Path,
                  calls: int) -> list[dict[str, Any]]:
    from lth_tf.core import config as C
    from lth_tf.keras_side import models
    from lth_tf.keras_side import pruning as P
    from lth_tf.platform.backend import keras, tf

    keras.backend.clear_session()
    cfg = C.Model(name=name, width=width) if width else C.Model(name=name)
    wrapped = P.wrap(models.build(cfg, (32, 32, 3), 10, 0))
    kernels = P.get_kernels(wrapped)
    rows = []
    for i, s in enumerate(sparsities):
        plain, pruned = _random_masks(wrapped, kernels, s, seed=10 + i)
        paths = {k: f(plain, pruned, None, work / f"{name}-{i}-{k}") for k, f in EXPORTS.items()}
        for batch in (1, 256):
            x = tf.constant(np.random.default_rng(batch).standard_normal((batch, 32, 32, 3)), tf.float32)
            n = calls if batch == 1 else max(5, calls // 10)
            sec = latencies(paths, "serving_normalized", {"image": x}, n)
            rows.append({"model": f"{name}_w{width}" if width else name, "sparsity": s, "batch": batch,
                         "calls": n, "seconds": sec, "vs_dense": {k: v / sec["dense"] for k, v in sec.items()}})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--only", choices=["narrow", "tflite"], default=None,
                   help="run only the narrowed latency, or only the TFLite latency")
    args = p.parse_args(argv)
    t0 = time.time()
    q = args.quick
    from benchmarks.narrow_latency import all_narrow_latency, narrow_headline, print_narrow
    from lth_tf.platform.platform import Platform

    calls = 10 if q else 100
    fractions = [0.5] if q else [0.5, 0.75]
    if args.only == "tflite":
        from benchmarks.tflite_latency import all_tflite_latency, print_tflite, tflite_headline

        body = all_tflite_latency([0.0, 0.9] if q else [0.0, 0.5, 0.9, 0.95], 10 if q else 40)
        path = write_result("efficiency_tflite", tflite_headline(body["tflite_latency"]), body, q, time.time() - t0)
        print(path)
        print_tflite(body["tflite_latency"])
        return 0
    if args.only == "narrow":
        with tempfile.TemporaryDirectory(prefix="lth-efficiency-") as tmp:
            narrowed = all_narrow_latency(gcn_run(1, args.data_dir, first_only=True), fractions, Path(tmp), calls)
        headline = {"narrow_latency_vs_dense": narrow_headline(narrowed)}
        path = write_result("efficiency_narrow", headline, {"runtime": Platform.single().settings(), "narrow_latency": narrowed},
                            q, time.time() - t0)
        print(path)
        print_narrow(narrowed)
        return 0
    with tempfile.TemporaryDirectory(prefix="lth-efficiency-") as tmp:
        work = Path(tmp)
        resnet = resnet64_sizes([0.5, 0.95] if q else [0.5, 0.8, 0.9, 0.95, 0.98, 0.99], work)
        search = gcn_run(5 if q else 20, args.data_dir)
        gcn = gcn_sizes(search, work)
        latency = gcn_latency(search, work, calls)
        latency += image_latency("resnet18", 16, [0.9] if q else [0.9, 0.98], work, calls)
        latency += image_latency("conv4", None, [0.9] if q else [0.9, 0.98], work, calls)
        narrowed = all_narrow_latency(search, fractions, work, calls)
    sizes = resnet + gcn
    pruned = [r for r in sizes if r["sparsity"] >= 0.5]
    headline = {
        "max_size_ratio": max(r["ratio"] for r in pruned),
        "size_ratio_resnet18_w64": {f"{r['sparsity']:.2f}": round(r["ratio"], 3) for r in resnet},
        "size_ratio_gcn": {f"{r['sparsity']:.4f}": round(r["ratio"], 3) for r in gcn if r["sparsity"] >= 0.5},
        "within_1_2x": all(r["ratio"] <= 1.2 for r in pruned),
        "latency_vs_dense": {f"{r['model']} {100 * r['sparsity']:.0f}% batch {r['batch']}":
                             {k: round(v, 3) for k, v in r["vs_dense"].items()} for r in latency},
        "narrow_latency_vs_dense": narrow_headline(narrowed),
    }
    body = {"runtime": Platform.single().settings(), "sizes": sizes, "latency": latency, "narrow_latency": narrowed}
    path = write_result("efficiency", headline, body, q, time.time() - t0)
    print(path)
    for r in sizes:
        print(f"{r['model']:24s} {100 * r['sparsity']:6.2f}%  variables {r['variables_bytes'] / 1e3:9.1f} kB  "
              f"bound {r['bound_bytes'] / 1e3:9.1f} kB  ratio {r['ratio']:.3f}")
    for r in latency:
        cells = "  ".join(f"{k} {1e3 * v:8.2f} ms ({r['vs_dense'][k]:.2f}x)" for k, v in r["seconds"].items())
        print(f"{r['model']:14s} {100 * r['sparsity']:5.1f}% batch {r['batch']!s:>5}  {cells}")
    print_narrow(narrowed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
