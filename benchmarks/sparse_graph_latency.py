"""Latency of a served Cora GCN ticket: raw sparse node features against raw dense ones.

One exported ticket (`RUN_DIR/ticket`, written by `lth-tf run --preset cora-gcn`) is loaded
once with tf.saved_model.load and called on the whole graph (2708 nodes, 1433 features,
1.3% nonzero) through three of its signatures (lth_tf/export/signatures.py):
- serving_dense: x float32 (N, F), a float32 (N, N), raw; normalised in the graph (the
  adjacency's D^-1/2 (A+I) D^-1/2 on the dense (N, N) matrix, then tf.sparse.from_dense);
- serving_sparse: the same raw inputs as COO parts; normalised with sparse ops;
- serving_default: COO parts already prepared as the run fed them (for reference).
Inputs are tf.constants made once, so the time is the signature's, not the conversion
from numpy. Calls are interleaved (dense, sparse, default, dense, ...); each kind's
median, and the median of the paired sparse/dense ratios (robust to the load of other
processes, which changes slowly next to one round). The op counts of each signature's
graph show which products are sparse: in all three, X.W of the first layer is a
SparseTensorDenseMatMul (the dense signature converts x with tf.sparse.from_dense).

    python benchmarks/sparse_graph_latency.py RUN_DIR [--ticket EXPORT] [--calls 200] [--quick]
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import write_result

KINDS = ("dense", "sparse", "default")
SIGNATURE = {"dense": "serving_dense", "sparse": "serving_sparse", "default": "serving_default"}


def _coo(prefix: str, m) -> dict[str, np.ndarray]:
    import scipy.sparse as sp

    c = sp.coo_matrix(m)
    return {f"{prefix}_indices": np.stack([c.row, c.col], axis=1).astype(np.int64),
            f"{prefix}_values": c.data.astype(np.float32),
            f"{prefix}_dense_shape": np.asarray(c.shape, np.int64)}


def feeds(g) -> dict[str, dict[str, Any]]:
    """Each signature's inputs for graph `g` (GraphData of a run on Cora)."""
    import scipy.sparse as sp

    from lth_tf.platform.backend import tf

    # Cora's raw features are 0/1 and the run row-normalised them; its graph is unweighted.
    x_raw = (g.x != 0).astype(np.float32)
    a_raw = sp.csr_matrix((g.a != 0).astype(np.float32))
    a_raw.setdiag(0)
    a_raw.eliminate_zeros()
    raw = {"dense": {"x": x_raw, "a": a_raw.toarray()},
           "sparse": {**_coo("x", sp.csr_matrix(x_raw)), **_coo("a", a_raw)},
           "default": {**_coo("x", sp.csr_matrix(g.x)), **_coo("a", g.a)}}
    return {k: {n: tf.constant(v) for n, v in f.items()} for k, f in raw.items()}


def op_counts(fn) -> dict[str, int]:
    counts: collections.Counter = collections.Counter()

    def walk(graph):
        for op in graph.get_operations():
            counts[op.type] += 1
        for f in getattr(graph, "_functions", {}).values():
            if hasattr(f, "graph"):
                walk(f.graph)

    walk(fn.graph)
    keep = ("SparseTensorDenseMatMul", "MatMul", "Where", "SparseReorder", "MatrixSetDiagV3")
    return {k: counts[k] for k in keep if counts[k]}


def measure(ticket: Path, inputs: dict[str, dict[str, Any]], calls: int, warmup: int = 5) -> dict[str, Any]:
    from lth_tf.export import latency
    from lth_tf.platform.backend import tf

    m = tf.saved_model.load(str(ticket))
    fns = {k: m.signatures[SIGNATURE[k]] for k in KINDS}
    logits = {k: fns[k](**inputs[k])["logits"].numpy() for k in KINDS}
    diff = {k: float(np.max(np.abs(logits[k] - logits["dense"]))) for k in ("sparse", "default")}
    # the export marker's clock loop with a fixed count: `warmup` untimed rounds, then `calls` rounds
    times = latency.interleaved({k: (lambda k=k: fns[k](**inputs[k])["logits"].numpy()) for k in KINDS},
                                budget=None, warmup=warmup, max_calls=calls)
    ratio = {k: [s / d for s, d in zip(times[k], times["dense"], strict=True)] for k in ("sparse", "default")}
    return {"calls": calls, "warmup": warmup,
            "median_seconds": {k: statistics.median(t) for k, t in times.items()},
            "quartile_seconds": {k: [q[0], q[2]] for k, t in times.items() for q in [statistics.quantiles(t, n=4)]},
            "paired_over_dense": {k: statistics.median(r) for k, r in ratio.items()},
            "max_abs_logit_diff_vs_dense": diff,
            "ops": {k: op_counts(fns[k]) for k in KINDS},
            "input_bytes": {k: int(sum(v.numpy().nbytes for v in inputs[k].values())) for k in KINDS}}


def _shell(cmd: list[str]) -> str:
    try:
        return subprocess.check_output(cmd, text=True, stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path, help="a finished cora-gcn run directory (its ticket/ is timed)")
    p.add_argument("--ticket", type=Path, help="an export of that run to time instead of RUN_DIR/ticket "
                   "(`lth-tf export RUN_DIR --out PATH`, any format)")
    p.add_argument("--calls", type=int, default=200, help="timed calls of each signature")
    p.add_argument("--quick", action="store_true", help="20 calls, results to *.quick.json")
    args = p.parse_args(argv)
    calls = 20 if args.quick else args.calls
    t0 = time.time()
    from lth_tf.platform.backend import tf
    from lth_tf.search.lottery import LotterySearch

    search = LotterySearch.open(args.run_dir)
    ticket = args.ticket or args.run_dir / "ticket"
    inputs = feeds(search.data)
    lscpu = _shell(["lscpu"])
    model_name = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines()
                       if line.startswith("Model name")), "")
    load = {"uptime_before": _shell(["uptime"]), "loadavg_before": os.getloadavg()}
    res = measure(ticket, inputs, calls)
    load.update(uptime_after=_shell(["uptime"]), loadavg_after=os.getloadavg())
    sec = res["median_seconds"]
    headline = {"dense_ms": round(1e3 * sec["dense"], 2), "sparse_ms": round(1e3 * sec["sparse"], 2),
                "prepared_coo_ms": round(1e3 * sec["default"], 2),
                "sparse_over_dense_paired": round(res["paired_over_dense"]["sparse"], 3),
                "target": "sparse <= 0.5x dense",
                "met": res["paired_over_dense"]["sparse"] <= 0.5}
    body = {"ticket": str(ticket), "round": search.winner_round(), "lscpu_model_name": model_name,
            "tensorflow": tf.__version__, "load": load, "graph": {"nodes": 2708, "features": 1433},
            "latency": res}
    path = write_result("sparse_graph_latency", headline, body, args.quick, time.time() - t0)
    for k in KINDS:
        q = res["quartile_seconds"][k]
        print(f"{SIGNATURE[k]:16s} median {1e3 * sec[k]:8.2f} ms  (quartiles {1e3 * q[0]:.2f}-{1e3 * q[1]:.2f})  "
              f"ops {res['ops'][k]}")
    print(f"sparse/dense paired median {res['paired_over_dense']['sparse']:.3f}; "
          f"{model_name}; load {load['loadavg_before'][0]:.2f} -> {load['loadavg_after'][0]:.2f}")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
