"""Measured latency of an export: median seconds per call of its serving function, and the machine.

    timed = measure(path, data)               # a SavedModel export just written at `path`
    timed = measure_tflite(path)              # a .tflite export (batch 1: its input is fixed)
    both = side_by_side({"dense": p, "narrow": q}, data)   # {label: {"b1": seconds, ...}}, interleaved
    skipped(reason)                           # the marker's fields when nothing was timed
    feeds = random_inputs(fn.structured_input_signature[1], batch, rng)   # what they call it with

The export marker's `latency` (lth_tf/export/__init__.py writes it; `--no-timing` of `lth-tf
export`, `run` and `sweep`, `timing=False` from Python, leave it null with `latency_skipped` saying why):

    {"signature": "serving_default",
     "runs": [{"batch": 1, "median_seconds": ..., "calls": 50},
              {"batch": 256, "median_seconds": ..., "calls": 50}],  # a graph: one run,
                                                                     # {"batch": N nodes, "whole_graph": true}
     "budget_seconds": 3.0, "seconds_spent": ..., "how": HOW,
     "machine": {"cpu": model name, "flags": the SPEED_FLAGS it has, "cores": ...,
                 "tensorflow": version, "onednn": on/off, "date": UTC ISO time}}

A latency without the CPU means nothing (the same export runs several times faster on
another CPU kind), so every measurement carries `machine`. The calls are made on the
export as loaded from disk (`tf.saved_model.load`), in the exporting process: one
warm-up call per batch size (the first call also traces), then one call of each batch
size in turn (interleaved, so load from other processes falls on both alike) until
`budget_seconds` is spent or MAX_CALLS rounds are done; at least one timed round, so
a model whose one call outlasts the budget takes longer. Inputs are random: uint8
pixels for the raw image signature, standard normal floats for float inputs; a graph
model is called once on the whole graph of the export's data (its COO inputs).

The clock loop (`interleaved`) and the marker's shape are pure; TensorFlow is imported
only where an export is loaded.
"""

from __future__ import annotations

import datetime
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

BUDGET_SECONDS = 3.0  # the timed calls of one export, after its warm-up
WARMUP = 1  # untimed calls per batch size first (the first call traces the function)
MAX_CALLS = 50  # timed calls per batch size at most: enough for a median
LARGE_BATCH = 256  # the second batch size of image (and other batched) models, as benchmarks/ time
SIGNATURE = "serving_default"
HOW = ("median wall seconds per call of the export loaded from disk, in the exporting process; "
       "batch sizes interleaved after a warm-up call each")


def interleaved(calls: Mapping[Any, Callable[[], Any]], budget: float | None = BUDGET_SECONDS,
                warmup: int = WARMUP, max_calls: int = MAX_CALLS,
                clock: Callable[[], float] = time.perf_counter) -> dict[Any, list[float]]:
    """Seconds of each timed call of each of `calls`: `warmup` untimed rounds, then rounds of
    one call each, in turn, until `budget` seconds are spent on timed rounds (None: no limit)
    or `max_calls` rounds are done; at least one timed round."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    times: dict[Any, list[float]] = {key: [] for key in calls}
    start = clock()
    for done in range(max_calls):
        if done and budget is not None and clock() - start >= budget:
            break
        for key, call in calls.items():
            t0 = clock()
            call()
            times[key].append(clock() - t0)
    return times


def medians(times: Mapping[Any, list[float]]) -> dict[Any, float]:
    return {key: statistics.median(t) for key, t in times.items()}


def skipped(reason: str) -> dict[str, Any]:
    """The marker's fields when the export was not timed."""
    return {"latency": None, "latency_skipped": reason}


NOT_TIMED = "timing was turned off: --no-timing of lth-tf export, run or sweep, or timing=False from Python"


def machine() -> dict[str, Any]:
    """What a latency was measured on: CPU model, its speed flags, cores, TensorFlow, oneDNN, date."""
    from lth_tf.platform import runtime, speed
    from lth_tf.platform.backend import tf

    cpu = speed.Cpu.read()
    return {
        "cpu": cpu.model or "unknown",
        "flags": list(cpu.flags),
        "cores": cpu.cores,
        "tensorflow": tf.__version__,
        "onednn": runtime.onednn_enabled(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _record(signature: str, runs: list[dict[str, Any]], times: Mapping[Any, list[float]],
            budget: float | None, spent: float) -> dict[str, Any]:
    per = medians(times)
    return {
        "latency": {
            "signature": signature,
            "runs": [{**run, "median_seconds": per[i], "calls": len(times[i])} for i, run in enumerate(runs)],
            "budget_seconds": budget,
            "seconds_spent": round(spent, 3),
            "how": HOW,
            "machine": machine(),
        }
    }


# -- inputs ------------------------------------------------------------------------------------
def _graph_feeds(data: Any) -> dict[str, Any] | None:
    """serving_default's six COO inputs of the whole graph of `data`, or None without graph data."""
    if getattr(data, "kind", None) != "graph":
        return None
    x, a = data.inputs()
    return {"x_indices": x.indices, "x_values": x.values, "x_dense_shape": x.dense_shape,
            "a_indices": a.indices, "a_values": a.values, "a_dense_shape": a.dense_shape}


def random_inputs(spec: Mapping[str, Any], batch: int, rng: np.random.Generator) -> dict[str, Any] | None:
    """Random inputs (tf constants) of `batch` examples for a signature's input specs
    (`fn.structured_input_signature[1]`): uint8 pixels 0..255 for a raw image input, standard
    normal values for a float one; None when a shape is not fixed beyond the batch or an
    input is neither. benchmarks/faster_tickets.py makes its image inputs with it too."""
    from lth_tf.platform.backend import tf

    feeds = {}
    for name, s in spec.items():
        dims = list(s.shape)
        if not dims or any(d is None for d in dims[1:]):
            return None
        shape = (batch, *dims[1:])
        if s.dtype == tf.uint8:
            value = rng.integers(0, 256, shape, dtype=np.uint8)
        elif s.dtype.is_floating:
            value = rng.standard_normal(shape).astype(s.dtype.as_numpy_dtype)
        else:
            return None
        feeds[name] = tf.constant(value)
    return feeds


def _savedmodel_runs(fn: Any, data: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | str:
    """([run description], [inputs]) for a loaded signature, or why it cannot be called here."""
    spec = fn.structured_input_signature[1]
    if "a_indices" in spec:
        feeds = _graph_feeds(data)
        if feeds is None:
            return "a graph model, and no graph data was at hand to call it with"
        return [{"batch": int(feeds["x_dense_shape"][0]), "whole_graph": True}], [feeds]
    rng = np.random.default_rng(0)
    runs, inputs = [], []
    for batch in (1, LARGE_BATCH):
        feeds = random_inputs(spec, batch, rng)
        if feeds is None:
            return f"{SIGNATURE}'s inputs are not fixed-shape float or uint8 tensors"
        runs.append({"batch": batch})
        inputs.append(feeds)
    return runs, inputs


# -- measurements ------------------------------------------------------------------------------
def _caller(fn: Any, feeds: Mapping[str, Any]) -> Callable[[], list[Any]]:
    """One call of the signature `fn` on `feeds`, as timed: every output fetched (`.numpy()`), so
    the clock stops when the results exist, not when the ops were queued."""
    return lambda: [v.numpy() for v in fn(**feeds).values()]


def measure(path: str | Path, data: Any = None, budget: float | None = BUDGET_SECONDS) -> dict[str, Any]:
    """The marker's `latency` of the SavedModel at `path` (see the module doc), or `skipped`."""
    from lth_tf.platform.backend import tf

    loaded = tf.saved_model.load(str(path))
    if SIGNATURE not in loaded.signatures:
        return skipped(f"the export has no {SIGNATURE} signature")
    fn = loaded.signatures[SIGNATURE]
    made = _savedmodel_runs(fn, data)
    if isinstance(made, str):
        return skipped(made)
    runs, inputs = made
    calls = {i: _caller(fn, feeds) for i, feeds in enumerate(inputs)}
    t0 = time.perf_counter()
    times = interleaved(calls, budget)
    return _record(SIGNATURE, runs, times, budget, time.perf_counter() - t0)


def measure_tflite(path: str | Path, budget: float | None = BUDGET_SECONDS) -> dict[str, Any]:
    """The marker's `latency` of the .tflite export in the folder `path`: batch 1 (its input
    is fixed), the interpreter lth_tf.export.tflite reads with (LiteRT when installed)."""
    from lth_tf.export import tflite

    interpreter, _ = tflite.interpreter_api()
    it = interpreter(model_path=str(Path(path) / tflite.MODEL_FILE))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    x = np.random.default_rng(0).standard_normal(inp["shape"]).astype(inp["dtype"])

    def call() -> None:
        it.set_tensor(inp["index"], x)
        it.invoke()
        it.get_tensor(out["index"])

    t0 = time.perf_counter()
    times = interleaved({0: call}, budget)
    return _record("tflite interpreter invoke (default delegates: XNNPACK on CPU)", [{"batch": int(inp["shape"][0])}], times, budget,
                   time.perf_counter() - t0)


def side_by_side(paths: Mapping[str, str | Path], data: Any = None,
                 budget: float | None = BUDGET_SECONDS) -> dict[str, dict[str, float]] | None:
    """{label: {run_label: median seconds}} of several SavedModel exports of the same inputs, every
    call interleaved with the others' (what a ratio between them may rest on); None when
    their serving function cannot be called here."""
    from lth_tf.platform.backend import tf

    fns = {label: tf.saved_model.load(str(p)).signatures[SIGNATURE] for label, p in paths.items()}
    made = _savedmodel_runs(next(iter(fns.values())), data)
    if isinstance(made, str):
        return None
    runs, inputs = made
    calls = {(label, i): _caller(fn, feeds) for i, feeds in enumerate(inputs) for label, fn in fns.items()}
    per = medians(interleaved(calls, budget))
    return {label: {run_label(run): per[(label, i)] for i, run in enumerate(runs)} for label in fns}


# -- the printed line ----------------------------------------------------------------------------
def text(latency: Mapping[str, Any] | None, reason: str | None = None) -> str:
    """The marker's latency in a few words: "latency b1 0.41 ms, b256 12.3 ms (CPU, 2 cores, TF x)"."""
    if not latency:
        return f"latency not measured ({reason or 'no latency in the marker'})"
    runs = ", ".join(f"{run_label(r)} {_ms(r['median_seconds'])}" for r in latency["runs"])
    m = latency.get("machine") or {}
    return f"latency {runs} ({m.get('cpu', 'unknown CPU')}, {m.get('cores', '?')} cores, TF {m.get('tensorflow', '?')})"


def run_label(run: Mapping[str, Any]) -> str:
    """"b1", "b256", or "whole graph (N nodes)"."""
    return f"whole graph ({run['batch']} nodes)" if run.get("whole_graph") else f"b{run['batch']}"


def _ms(seconds: float) -> str:
    return f"{1e3 * seconds:.3g} ms"
