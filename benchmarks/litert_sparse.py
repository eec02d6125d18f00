"""LiteRT latency of a MobileNetV2 ticket with and without XNNPACK's sparse inference.

    python benchmarks/litert_sparse.py [--data-dir DIR] [--pairs 400] [--no-probe]

Issue 26, item 3. XNNPACK has sparse (SpMM, NCHW) kernels for 1x1 convolutions
(Elsen et al., Fast Sparse ConvNets, CVPR 2020). This benchmark trains a ticket
of `tf_keras.applications.MobileNetV2(alpha=0.35, 32x32, 10 classes)` on a CIFAR-10
subset through `lth_tf.TicketSearch` (layerwise magnitude pruning of the 1x1
convolutions only: the 3x3 stem and the classifier excluded; tfmot leaves the
depthwise kernels dense), converts it with `lth_tf.export.tflite.convert`, and
times batch-1 calls through ai-edge-litert at 1 and 2 threads. Configurations:

- `dense`: round 0 (the dense network), `Interpreter` (default delegate: XNNPACK);
- `ticket_zeros`: the ticket with its zeros stored dense (no sparsity optimisation);
- `ticket_sparse`: the ticket as `lth-tf export --format tflite` writes it (1x1 kernels
  stored sparse, each read by a DENSIFY op: what XNNPACK's delegate takes as the hint
  to try sparse inference);
- `ticket_sparse_latest`: the same with `experimental_default_delegate_latest_features`;
- `ticket_sparse_compiled`: the same through `ai_edge_litert.compiled_model.CompiledModel`
  (CPU, XNNPACK; `CpuOptions.xnnpack_flags` takes the delegate's flags, none of which
  is a sparse switch);
- `ticket_sparse_forced` (a diagnostic, not a switch): XNNPACK skips its NCHW (sparse)
  rewrite on x86 CPUs with AVX; here the AVX bit of XNNPACK's hardware config in
  libpywrap_litert_common.so is cleared in this process' memory while that one
  interpreter is built, to see what sparse inference would do. Needs the library's
  symbol table (`nm`); skipped without it.

Each set is run for two graphs: `keras` (MobileNetV2 as Keras builds it: TF "same"
padding, which pads stride-2 3x3 convolutions (0, 1) on even sizes) and `symmetric`
(the same ticket's weights in a MobileNetV2 whose stride-2 3x3 convolutions are padded
1 on every side, the form XNNPACK's NCHW path takes; not retrained: its accuracy is
given). Calls go round-robin over the configurations of a set, the order rotated each round
so the load of other processes hits all alike; medians, and the median of the paired
ratios to `dense`. The probe (when gdb is installed; `--no-probe` skips it) runs each
Interpreter configuration once more in a child under gdb and counts XNNPACK's NCHW
rewrite, its NCHW convolutions and SpMM kernel calls: whether sparse inference ran,
not inferred from timings.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ROOT, RUNS, write_result

EXAMPLE = ROOT.parent / "examples" / "keras3_ticket.py"
EXCLUDE = ("Conv1", "predictions")  # the 3x3 stem and the classifier: only 1x1 convolutions are pruned
AVX_BIT = 0x10  # xnn_arch_x86_avx in XNNPACK's hardware_config.arch_flags (offset 8), see the docstring
SPMM = "xnn_f32_spmm_minmax_ukernel_32x1__sse"  # the x86 SpMM kernel of this XNNPACK build
PROBES = ("xnn_subgraph_rewrite_for_nchw", "xnn_create_convolution2d_nchw_f32", SPMM)


def load_example():
    spec = importlib.util.spec_from_file_location("keras3_ticket_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the ticket -------------------------------------------------------------------------
def mobilenetv2():
    """tf_keras MobileNetV2 (alpha 0.35, 32x32, 10 logits), BatchNorm momentum 0.9 (short runs)."""
    import tf_keras as keras

    model = keras.applications.MobileNetV2(alpha=0.35, input_shape=(32, 32, 3), classes=10, weights=None,
                                           classifier_activation=None)
    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "BatchNormalization":
            layer["config"]["momentum"] = 0.9
    return keras.Model.from_config(config)


def symmetric(model):
    """`model` (a tf_keras MobileNetV2) with every stride-2 3x3 convolution padded 1 on each side:
    a ZeroPadding2D(1) before the stem (made "valid"), and the blocks' pads (0, 1) made (1, 1).
    Same weights, same output sizes on even inputs; a slightly different function."""
    import tf_keras as keras

    config = model.get_config()
    layers = config["layers"]
    stem = next(i for i, layer in enumerate(layers) if layer["name"] == "Conv1")
    source = layers[stem]["inbound_nodes"]
    layers[stem]["config"]["padding"] = "valid"
    layers[stem]["inbound_nodes"] = [[["Conv1_pad", 0, 0, {}]]]
    layers.insert(stem, {"class_name": "ZeroPadding2D", "name": "Conv1_pad", "inbound_nodes": source,
                         "config": {"name": "Conv1_pad", "trainable": True, "dtype": "float32",
                                    "padding": ((1, 1), (1, 1)), "data_format": "channels_last"}})
    for layer in layers:
        if layer["class_name"] == "ZeroPadding2D":
            layer["config"]["padding"] = ((1, 1), (1, 1))
    out = keras.Model.from_config(config)
    out.set_weights(model.get_weights())
    return out


def train(args) -> tuple[Any, Any, dict[str, Any], tuple[np.ndarray, np.ndarray]]:
    """(dense model, ticket, facts, (x_test, y_test)): round 0 and the last round, tf_keras, logits."""
    import tf_keras as keras

    import lth_tf

    example = load_example()
    (x_train, y_train), (x_test, y_test) = example.cifar10(args.data_dir)
    y_train, y_test = y_train.reshape(-1), y_test.reshape(-1)
    order = np.random.default_rng(0).permutation(len(x_train))
    train_idx, val_idx = order[: args.train_images], order[args.train_images: args.train_images + 1000]
    keras.utils.set_random_seed(0)
    model = mobilenetv2()
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    search = lth_tf.TicketSearch(
        model, directory=RUNS / "litert_sparse", name="mobilenetv2-1x1", rounds=args.rounds, rate=args.rate,
        scope="layerwise", epochs=args.epochs, batch_size=128,
        settings={"prune.exclude": EXCLUDE, "train.schedule": "cosine"},
    )
    scale = example.scale
    summary = search.fit((scale(x_train[train_idx]), y_train[train_idx]),
                         validation_data=(scale(x_train[val_idx]), y_train[val_idx]),
                         test_data=(scale(x_test), y_test), export=False)
    last = summary["rounds"][-1]["round"]
    dense, ticket = search.ticket_model(round=0), search.ticket_model(round=last)
    ones = [layer for layer in ticket.layers
            if type(layer) is keras.layers.Conv2D and layer.kernel_size == (1, 1)]
    zeros = sum(int(np.sum(layer.kernel.numpy() == 0)) for layer in ones) / sum(
        int(layer.kernel.numpy().size) for layer in ones)
    facts = {
        "model": "tf_keras.applications.MobileNetV2(alpha=0.35, 32x32x3, 10 classes, weights=None), "
                 "BatchNorm momentum 0.9",
        "train_images": args.train_images, "epochs_per_round": args.epochs, "rounds": args.rounds,
        "rate": args.rate, "scope": "layerwise", "exclude": list(EXCLUDE),
        "pruned_layers": f"{len(ones)} 1x1 Conv2D", "one_by_one_kernel_zeros": round(zeros, 4),
        "rounds_test_acc": {r["round"]: r["test_acc"] for r in summary["rounds"]},
        "rounds_sparsity": {r["round"]: r["sparsity"] for r in summary["rounds"]},
        "run_dir": str(search.run_dir.relative_to(ROOT.parent)),
    }
    return dense, ticket, facts, (scale(x_test), y_test)


# -- running a .tflite ------------------------------------------------------------------
class Runner:
    """One configuration: a callable on a (1, 32, 32, 3) float32 image returning the logits."""

    def __init__(self, content: bytes, threads: int, api: str = "interpreter", latest: bool = False,
                 width: int = 10):
        self.api = api
        if api == "compiled":
            from ai_edge_litert.compiled_model import CompiledModel
            from ai_edge_litert.options import CpuOptions, Options

            self._tmp = tempfile.NamedTemporaryFile(suffix=".tflite")  # noqa: SIM115 (kept open with the model)
            self._tmp.write(content)
            self._tmp.flush()
            self.model = CompiledModel.from_file(
                self._tmp.name, options=Options(cpu_options=CpuOptions(num_threads=threads)))
            self.ins, self.outs = self.model.create_input_buffers(0), self.model.create_output_buffers(0)
            self.width = width
        else:
            from ai_edge_litert.interpreter import Interpreter

            self.it = Interpreter(model_content=content, num_threads=threads,
                                  experimental_default_delegate_latest_features=latest)
            self.it.allocate_tensors()
            self.inp = self.it.get_input_details()[0]["index"]
            self.out = self.it.get_output_details()[0]["index"]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.api == "compiled":
            self.ins[0].write(x)
            self.model.run_by_index(0, self.ins, self.outs)
            return self.outs[0].read(self.width, np.float32).reshape(1, -1)
        self.it.set_tensor(self.inp, x)
        self.it.invoke()
        return self.it.get_tensor(self.out)


def _litert_library() -> Path:
    import ai_edge_litert

    return Path(ai_edge_litert.__file__).parent / "libpywrap_litert_common.so"


@contextlib.contextmanager
def avx_gate_cleared():
    """While inside, XNNPACK's hardware config (in the Interpreter's library) says "no AVX", so a
    runtime built inside takes XNNPACK's NCHW/sparse rewrite; yields False (and changes nothing)
    when the symbol cannot be found or the bit is not set. A diagnostic, not a switch."""
    lib = _litert_library()
    nm = shutil.which("nm")
    out = subprocess.run([nm, str(lib)], capture_output=True, text=True, check=False).stdout if nm else ""
    offset = next((int(a, 16) for a, _, name in (line.split() for line in out.splitlines() if line.count(" ") == 2)
                   if name == "hardware_config"), None)
    base = None
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[5] == str(lib) and fields[2] == "00000000":
                base = int(fields[0].split("-")[0], 16)
                break
    if offset is None or base is None:
        yield False
        return
    flags = ctypes.c_uint8.from_address(base + offset + 8)
    if not flags.value & AVX_BIT:
        yield False
        return
    flags.value &= ~AVX_BIT
    try:
        yield True
    finally:
        flags.value |= AVX_BIT


def runners(contents: dict[str, bytes], threads: int, force: bool) -> tuple[dict[str, Runner], bool]:
    """The configurations (see the docstring) of one graph at `threads`; the forced one last."""
    made = {
        "dense": Runner(contents["dense"], threads),
        "ticket_zeros": Runner(contents["ticket_zeros"], threads),
        "ticket_sparse": Runner(contents["ticket_sparse"], threads),
        "ticket_sparse_latest": Runner(contents["ticket_sparse"], threads, latest=True),
        "ticket_sparse_compiled": Runner(contents["ticket_sparse"], threads, api="compiled"),
    }
    forced = False
    if force:
        with avx_gate_cleared() as forced:
            if forced:
                made["ticket_sparse_forced"] = Runner(contents["ticket_sparse"], threads)
    return made, forced


def interleaved(made: dict[str, Runner], x: np.ndarray, pairs: int, warmup: int = 50) -> dict[str, Any]:
    """Round-robin calls, the order rotated by one each round (no configuration always runs
    first or after the same one); medians and the median of the ratios to `dense` per round."""
    kinds = list(made)
    wall: dict[str, list[float]] = {k: [] for k in kinds}
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    for i in range(warmup + pairs):
        for kind in kinds[i % len(kinds):] + kinds[: i % len(kinds)]:
            t0, c0 = time.perf_counter(), time.thread_time()
            made[kind](x)
            if i >= warmup:
                wall[kind].append(time.perf_counter() - t0)
                cpu[kind].append(time.thread_time() - c0)
    ratios = {k: [a / d for a, d in zip(wall[k], wall["dense"], strict=True)] for k in kinds}
    quartiles = {k: statistics.quantiles(r, n=4) for k, r in ratios.items()}
    return {"calls": pairs,
            "median_us": {k: round(1e6 * statistics.median(v), 1) for k, v in wall.items()},
            "cpu_median_us": {k: round(1e6 * statistics.median(v), 1) for k, v in cpu.items()},
            "paired_over_dense": {k: round(statistics.median(r), 3) for k, r in ratios.items()},
            "paired_quartiles": {k: [round(q[0], 3), round(q[2], 3)] for k, q in quartiles.items()}}


# -- evidence: what XNNPACK ran ---------------------------------------------------------
GDB = """set breakpoint pending on
set pagination off
{breaks}
catch syscall exit_group
run
info breakpoints
kill
"""


def probe(contents: dict[str, bytes], workdir: Path) -> dict[str, Any]:
    """Per configuration (the Interpreter ones; CompiledModel's XNNPACK copy is stripped): how often
    XNNPACK ran its NCHW rewrite, made NCHW convolutions and called the SpMM kernel in one
    process that builds the model and invokes it `CALLS` times, and the flags its runtime got."""
    gdb = shutil.which("gdb")
    if not gdb:
        return {"skipped": "gdb not installed"}
    breaks = [f"break {name}\nignore {i + 1} 1000000" for i, name in enumerate(PROBES)]
    breaks.append("break xnn_create_runtime_v4\ncommands\nsilent\nprintf \"runtime flags 0x%x\\n\", $r8\ncontinue\nend")
    script = workdir / "probe.gdb"
    script.write_text(GDB.format(breaks="\n".join(breaks)))
    found = {}
    for kind, file, extra in (("ticket_zeros", "ticket_zeros", ""), ("ticket_sparse", "ticket_sparse", ""),
                              ("ticket_sparse_latest", "ticket_sparse", "latest"),
                              ("ticket_sparse_forced", "ticket_sparse", "forced")):
        path = workdir / f"{file}.tflite"
        path.write_bytes(contents[file])
        cmd = [gdb, "-q", "-batch", "-x", str(script), "--args", sys.executable, str(Path(__file__).resolve()),
               "--probe-child", str(path), *([extra] if extra else [])]
        text = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False).stdout
        hits = {name: 0 for name in PROBES}
        current = None
        for line in text.splitlines():
            m = re.match(r"^\d+\s+breakpoint\s+keep\s+y\s+\S+\s+<([\w.]+)\+\d+>", line)
            if m:
                current = next((p for p in PROBES if p.replace("__", ".") == m.group(1) or p == m.group(1)), None)
            m = re.search(r"breakpoint already hit (\d+) time", line)
            if m and current:
                hits[current] = int(m.group(1))
        flags = sorted(set(re.findall(r"runtime flags (0x[0-9a-f]+)", text)))
        child = next((json.loads(line[6:]) for line in text.splitlines() if line.startswith("CHILD ")), None)
        found[kind] = {"calls": CALLS, "nchw_rewrites": hits[PROBES[0]], "nchw_convolutions": hits[PROBES[1]],
                       "spmm_kernel_calls": hits[SPMM], "xnn_runtime_flags": flags, "child": child}
    return found


CALLS = 3


def probe_child(path: str, mode: str | None) -> None:
    """The process gdb watches: build the configuration, call it CALLS times."""
    content = Path(path).read_bytes()
    x = np.random.default_rng(0).standard_normal((1, 32, 32, 3)).astype(np.float32)
    forced = False
    if mode == "forced":
        Runner(content, 1)  # loads the library, initialises XNNPACK
        with avx_gate_cleared() as forced:
            run = Runner(content, 1)
    else:
        run = Runner(content, 1, latest=mode == "latest")
    for _ in range(CALLS):
        run(x)
    print("CHILD " + json.dumps({"mode": mode or "default", "gate_cleared": forced}), flush=True)


# -- the benchmark ----------------------------------------------------------------------
def accuracy(content: bytes, x: np.ndarray, y: np.ndarray) -> float:
    run = Runner(content, 2)
    return float(np.mean([int(np.argmax(run(x[i: i + 1]))) == int(y[i]) for i in range(len(x))]))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("LTH_DATA_DIR"))
    p.add_argument("--train-images", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rate", type=float, default=0.55)
    p.add_argument("--pairs", type=int, default=2000)
    p.add_argument("--test-images", type=int, default=10000, help="test images run through each .tflite")
    p.add_argument("--no-probe", action="store_true")
    p.add_argument("--no-force", action="store_true")
    p.add_argument("--probe-child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.probe_child:
        probe_child(args.probe_child[0], args.probe_child[1] if len(args.probe_child) > 1 else None)
        return
    start = time.time()
    import ai_edge_litert
    import tensorflow as tf

    from lth_tf.export import tflite

    dense, ticket, facts, (x_test, y_test) = train(args)
    pick = np.random.default_rng(2).permutation(len(x_test))[: args.test_images]  # the file is sorted by class
    x_test, y_test = x_test[pick], y_test[pick]
    graphs = {"keras": (dense, ticket), "symmetric": (symmetric(dense), symmetric(ticket))}
    x = np.random.default_rng(1).standard_normal((1, 32, 32, 3)).astype(np.float32)
    rows, evidence, files, accuracies = [], {}, {}, {}
    load = {"before": os.getloadavg()}
    for graph, (d, t) in graphs.items():
        contents = {"dense": tflite.convert(d, sparse=False), "ticket_zeros": tflite.convert(t, sparse=False),
                    "ticket_sparse": tflite.convert(t)}
        stored = tflite.sparse_weights(contents["ticket_sparse"])
        files[graph] = {"bytes": {k: len(c) for k, c in contents.items()}, "stored_sparse_tensors": len(stored),
                        "read_by": sorted({op for s in stored for op in s["read_by"]})}
        accuracies[graph] = {"test_images": len(y_test), "dense": accuracy(contents["dense"], x_test, y_test),
                             "ticket": accuracy(contents["ticket_sparse"], x_test, y_test)}
        keras_out = t(x, training=False).numpy()
        for threads in (1, 2):
            made, forced = runners(contents, threads, force=not args.no_force)
            outs = {k: run(x) for k, run in made.items()}
            row = {"graph": graph, "threads": threads, "batch": 1, "forced_gate_cleared": forced,
                   **interleaved(made, x, args.pairs),
                   "max_abs_diff_vs_keras": {k: float(np.abs(o - keras_out).max()) for k, o in outs.items()
                                             if k != "dense"},
                   "bitwise_equal_to_ticket_zeros": {k: bool(np.array_equal(o, outs["ticket_zeros"]))
                                                     for k, o in outs.items() if k != "dense"}}
            rows.append(row)
            print(graph, threads, row["median_us"], row["paired_over_dense"], flush=True)
        if not args.no_probe:
            with tempfile.TemporaryDirectory() as tmp:
                evidence[graph] = probe(contents, Path(tmp))
            print(graph, "probe", json.dumps(evidence[graph]), flush=True)
    load["after"] = os.getloadavg()
    key = "{graph} {threads}t".format
    headline = {
        **{k: facts[k] for k in ("one_by_one_kernel_zeros", "rounds_test_acc")},
        "tflite_test_acc": accuracies,
        "median_us": {key(**r): r["median_us"] for r in rows},
        "paired_over_dense": {key(**r): r["paired_over_dense"] for r in rows},
        "sparse_inference_ran": {g: {k: e["spmm_kernel_calls"] > 0 for k, e in ev.items()}
                                 for g, ev in evidence.items() if "skipped" not in ev},
    }
    body = {"versions": {"ai_edge_litert": ai_edge_litert.__version__ if hasattr(ai_edge_litert, "__version__")
                         else _dist_version("ai-edge-litert"), "tensorflow": tf.__version__},
            "ticket": facts, "files": files, "rows": rows, "probe": evidence, "load_average_1_5_15min": load}
    out = write_result("litert_sparse", headline, body, quick=False, seconds=time.time() - start)
    print("wrote", out)


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
