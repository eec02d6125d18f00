"""TFLite latency for benchmarks/efficiency.py --only tflite (see its docstring).

The same masked model converted twice (lth_tf.export.tflite.convert): with the
sparsity optimisation (pruned kernels stored sparse) and without (dense), each
run by tf.lite.Interpreter with its default delegate (XNNPACK), one thread.
Calls alternate dense, sparse, dense, sparse... and each pair gives a ratio;
the median of the paired ratios is robust to the load of other processes,
which changes slowly next to one pair. Each call is timed twice: wall clock and
the CPU time of this thread (the interpreter runs in it with one thread), which
the load of other processes hardly touches.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np

# (registry name, input shape, batches): Conv-4 on CIFAR-shaped input; LeNet-300-100 on the
# same input is the Dense-heavy one (3072 -> 300 -> 100 -> 10, 99% of its weights in Dense kernels)
MODELS = (("conv4", (32, 32, 3), (1, 8)), ("lenet300", (32, 32, 3), (1, 64)))


def _interpreter(content: bytes, batch: int):
    from lth_tf.platform.backend import tf

    it = tf.lite.Interpreter(model_content=content, num_threads=1)
    inp = it.get_input_details()[0]["index"]
    it.resize_tensor_input(inp, [batch, *it.get_input_details()[0]["shape"][1:]])
    it.allocate_tensors()
    return it


def _call(it, x: np.ndarray) -> np.ndarray:
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def paired(contents: dict[str, bytes], x: np.ndarray, pairs: int, warmup: int = 3) -> dict[str, Any]:
    """Median seconds of each kind and the median of the paired sparse/dense ratios."""
    its = {kind: _interpreter(c, len(x)) for kind, c in contents.items()}
    outs = {kind: _call(it, x) for kind, it in its.items()}
    np.testing.assert_allclose(outs["sparse"], outs["dense"], rtol=1e-4, atol=1e-4)  # same model
    wall: dict[str, list[float]] = {kind: [] for kind in its}
    cpu: dict[str, list[float]] = {kind: [] for kind in its}
    for i in range(warmup + pairs):
        for kind in ("dense", "sparse"):
            t0, c0 = time.perf_counter(), time.thread_time()
            _call(its[kind], x)
            if i >= warmup:
                wall[kind].append(time.perf_counter() - t0)
                cpu[kind].append(time.thread_time() - c0)
    ratios = [s / d for s, d in zip(wall["sparse"], wall["dense"], strict=True)]
    cpu_ratios = [s / d for s, d in zip(cpu["sparse"], cpu["dense"], strict=True) if d > 0]
    q = statistics.quantiles(ratios, n=4)
    return {"pairs": pairs, "seconds": {k: statistics.median(t) for k, t in wall.items()},
            "cpu_seconds": {k: statistics.median(t) for k, t in cpu.items()},
            "sparse_over_dense": statistics.median(ratios), "ratio_quartiles": [q[0], q[2]],
            "cpu_sparse_over_dense": statistics.median(cpu_ratios)}


def model_rows(name: str, shape: tuple[int, ...], batches: tuple[int, ...], sparsities: list[float],
               pairs: int) -> list[dict[str, Any]]:
    from lth_tf.core import config as C
    from lth_tf.export import tflite
    from lth_tf.keras_side import models
    from lth_tf.keras_side import pruning as P
    from lth_tf.platform.backend import keras

    keras.backend.clear_session()
    wrapped = P.wrap(models.build(C.Model(name=name), shape, 10, 0))
    kernels = P.get_kernels(wrapped)
    rows = []
    for i, s in enumerate(sparsities):
        rng = np.random.default_rng(20 + i)
        P.set_masks(wrapped, {k: (rng.random(v.shape) >= s).astype(np.float32) for k, v in kernels.items()})
        P.set_kernels(wrapped, kernels)  # kernel * new mask
        plain = P.strip(wrapped)
        contents = {"dense": tflite.convert(plain, sparse=False), "sparse": tflite.convert(plain)}
        stored = tflite.sparse_weights(contents["sparse"])
        for batch in batches:
            x = np.random.default_rng(batch).standard_normal((batch, *shape)).astype(np.float32)
            n = pairs if batch == 1 else max(10, pairs // 4)
            rows.append({"model": name, "sparsity": s, "batch": batch, **paired(contents, x, n),
                         "bytes": {k: len(c) for k, c in contents.items()},
                         "stored_sparse": {"tensors": len(stored), "of_kernels": len(kernels),
                                           "read_by": sorted({op for t in stored for op in t["read_by"]})}})
    return rows


def all_tflite_latency(sparsities: list[float], pairs: int) -> dict[str, Any]:
    """Rows for every model in MODELS, with the load average before and after."""
    from lth_tf.platform.backend import tf

    load = {"before": os.getloadavg()}
    rows = [r for name, shape, batches in MODELS for r in model_rows(name, shape, batches, sparsities, pairs)]
    load["after"] = os.getloadavg()
    return {"tensorflow": tf.__version__, "interpreter": "tf.lite.Interpreter, default delegate (XNNPACK), "
            "num_threads=1", "load_average_1_5_15min": load, "tflite_latency": rows}


def tflite_headline(rows: list[dict[str, Any]]) -> dict[str, Any]:
    key = "{model} {pct:.0f}% batch {batch}".format
    return {"sparse_over_dense": {key(model=r["model"], pct=100 * r["sparsity"], batch=r["batch"]):
                                  round(r["sparse_over_dense"], 3) for r in rows},
            "cpu_sparse_over_dense": {key(model=r["model"], pct=100 * r["sparsity"], batch=r["batch"]):
                                      round(r["cpu_sparse_over_dense"], 3) for r in rows},
            "file_size_sparse_over_dense": {f"{r['model']} {100 * r['sparsity']:.0f}%":
                                            round(r["bytes"]["sparse"] / r["bytes"]["dense"], 3) for r in rows}}


def print_tflite(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        sec, q = r["seconds"], r["ratio_quartiles"]
        print(f"{r['model']:9s} {100 * r['sparsity']:3.0f}% batch {r['batch']:4d}  dense {1e3 * sec['dense']:8.2f} ms  "
              f"sparse {1e3 * sec['sparse']:8.2f} ms  paired {r['sparse_over_dense']:.3f} ({q[0]:.2f}-{q[1]:.2f}) "
              f"cpu {r['cpu_sparse_over_dense']:.3f}  "
              f"file {r['bytes']['sparse'] / r['bytes']['dense']:.2f}x  sparse tensors "
              f"{r['stored_sparse']['tensors']}/{r['stored_sparse']['of_kernels']} read by {r['stored_sparse']['read_by']}")
