"""ResNet-18 w16 training speed under train.strategy = default vs mirrored:2 (two logical CPUs).

    python benchmarks/distribute.py [--reps 2] [--steps 6] [--epochs 3] [--quick]

A strategy is fixed per process (logical devices are set before TensorFlow
initialises them), so every measurement is a fresh process running
`python benchmarks/distribute.py --worker JSON`: the wrapped ResNet-18 w16 with a
50% global mask, built and trained as a lottery round is (the engine's session
scope, `lth_tf.keras_side.training.train.train_round` with all its callbacks), on fixed synthetic
CIFAR-shaped batches of the config's global batch (128). Samples/second counts
the training part of each epoch after the first (tracing). Reps are paired and
interleaved (default, mirrored, default, mirrored, ...) so load from other
processes on the machine hits both alike; the headline is the median of the
per-pair ratios mirrored / default. On a 2-core CPU two logical devices share
the same cores, so no gain is expected: the ratio measures the overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import write_result

STRATEGIES = ("default", "mirrored:2")


def measure(spec: dict) -> dict:
    """One process: samples/second of the timed epochs under spec["strategy"]."""
    from lth_tf.platform import onednn

    onednn.choose(graph=False)
    import dataclasses

    from benchmarks.speed_worker import _experiment, _Feeds, _Images, _timer
    from lth_tf.core import masks as M
    from lth_tf.keras_side import models
    from lth_tf.keras_side import pruning as P
    from lth_tf.keras_side.training.train import train_round
    from lth_tf.platform.backend import keras
    from lth_tf.platform.platform import Platform

    exp = _experiment({"family": "resnet18_w16", "epochs": spec["epochs"],
                       "overrides": {"precision": "float32", "jit_compile": False}})
    exp = dataclasses.replace(exp, train=dataclasses.replace(exp.train, strategy=spec["strategy"]))
    platform = Platform.from_settings(exp.train)  # before TensorFlow touches a device
    t = exp.train
    data = _Images(spec["steps"], t.batch_size)
    feeds = _Feeds(data.train, data.val, spec["steps"], False)
    examples = spec["steps"] * t.batch_size
    feeds.examples_per_epoch = examples  # what train_round counts into the round's cost
    timer = _timer(examples, train_only=True)
    keras.backend.clear_session()
    platform.enter_scope()  # as RoundEngine.fresh_model does
    wrapped = P.wrap(models.build(exp.model, data.input_shape, data.num_classes, 0))
    kernels = P.get_kernels(wrapped)
    P.set_masks(wrapped, M.prune(kernels, M.ones_like(kernels), 0.5))
    train_round(wrapped, feeds, exp, 1, extra_callbacks=[timer], platform=platform)
    wall, cpu = timer.wall[1:], timer.cpu[1:]
    return {**spec, "per_second": [examples / w for w in wall], "cpu_use": sum(cpu) / sum(wall),
            "runtime": platform.settings(), "loadavg": os.getloadavg()[0]}


def run_worker(spec: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--steps", type=int, default=6, help="batches of 128 per epoch")
    ap.add_argument("--epochs", type=int, default=3, help="the first is not timed")
    ap.add_argument("--quick", action="store_true", help="1 rep, 3 steps, 2 epochs")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))))
        return 0
    if args.quick:
        args.reps, args.steps, args.epochs = 1, 3, 2
    t0 = time.time()
    reps = []
    for rep in range(args.reps):
        pair = {s: run_worker({"strategy": s, "steps": args.steps, "epochs": args.epochs, "rep": rep})
                for s in (STRATEGIES if rep % 2 == 0 else STRATEGIES[::-1])}  # alternate who goes first
        reps.append(pair)
        print(json.dumps({s: round(statistics.median(r["per_second"]), 1) for s, r in pair.items()}), flush=True)
    speed = {s: [statistics.median(p[s]["per_second"]) for p in reps] for s in STRATEGIES}
    ratios = [m / d for d, m in zip(speed["default"], speed["mirrored:2"], strict=True)]
    cpu_ratios = [(p["mirrored:2"]["cpu_use"] and r * p["default"]["cpu_use"] / p["mirrored:2"]["cpu_use"])
                  for p, r in zip(reps, ratios, strict=True)]
    headline = {
        "model": "resnet18_w16, 50% global mask, global batch 128, synthetic 32x32x3",
        "samples_per_second_default": round(statistics.median(speed["default"]), 1),
        "samples_per_second_mirrored2": round(statistics.median(speed["mirrored:2"]), 1),
        "ratio_mirrored2_over_default": round(statistics.median(ratios), 3),
        "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
        # Per CPU-second of the process: on a shared machine a 2-replica process may simply get
        # more CPU than a 1-replica one; this ratio is the work each sample costs.
        "ratio_per_cpu_second": round(statistics.median(cpu_ratios), 3),
        "cpu_use": {s: [round(p[s]["cpu_use"], 2) for p in reps] for s in STRATEGIES},
        "loadavg": {s: [round(p[s]["loadavg"], 1) for p in reps] for s in STRATEGIES},
        "repetitions": args.reps,
        "replicas": reps[0]["mirrored:2"]["runtime"]["replicas"],
    }
    path = write_result("distribute", headline, {"reps": reps}, args.quick, time.time() - t0)
    print(json.dumps(headline, indent=2))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
