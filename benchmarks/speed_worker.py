"""One measurement of benchmarks/speed.py, run in its own process.

oneDNN is fixed when TensorFlow loads, so every configuration runs in a fresh
process; benchmarks/speed.py sets TF_ENABLE_ONEDNN_OPTS (or removes it) in the
environment and calls

    python benchmarks/speed_worker.py '{"family": ..., "runner": ..., ...}'

which prints one JSON line: images per second of training (ResNet, Conv-4) or
epochs per second including validation (GCN) for every timed epoch, the settings in force
(Platform.settings(), lth_tf/platform/platform.py, with each speed setting's source and
reason), the process's CPU use during the timed epochs (cpu seconds / wall seconds;
below the core count means other processes took CPU) and the model's dense MACs per
example (GFLOP/s of training = 6 x MACs x examples per second, `flops.train_flops`).
`{"runner": "peak", ...}` instead times a 4096x4096 matmul in float32 and bfloat16
(GFLOP/s = 2 n^3 / seconds): the machine's measured peak.

Runners:
- `keras`: what a plain Keras user writes: TensorFlow imported first (so lth_tf
  changes nothing and TensorFlow's own oneDNN rule holds), the same architecture
  without pruning wrappers, `compile` + `fit` with no callbacks (the GCN: `fit`
  on a one-element dataset holding the whole graph).
- `lth_tf`: `lth_tf.keras_side.training.train.train_round` on the wrapped model with a 50% global
  mask, exactly as a lottery round trains (all of its callbacks).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IMAGE_FAMILIES = {"resnet18_w16": "cifar10-resnet18-cpu", "conv4": "conv4", "tiny_cnn": "smoke"}
GRAPH_FAMILIES = {"gcn_cora": "cora-gcn"}


def _experiment(spec: dict):
    """The family's experiment; `spec["overrides"]` (train.* values) on top, none: lth-tf's defaults."""
    from lth_tf.core import config as C

    family = spec["family"].removesuffix("_kd")
    ov = [f"train.epochs={spec['epochs']}"]
    ov += [f"train.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in (spec.get("overrides") or {}).items()]
    if family == "conv4":
        # Conv-4 (Frankle & Carbin) on CIFAR-shaped images, the resnet preset's training.
        return C.resolve("cifar10-resnet18-cpu", overrides=["model.name=conv4", "model.width=64", *ov])
    if family == "tiny_cnn":  # the smoke preset's model at the resnet preset's batch size
        return C.resolve("cifar10-resnet18-cpu", overrides=["model.name=tiny_cnn", "model.width=8", *ov])
    if family == "resnet18_w16":
        return C.resolve("cifar10-resnet18-cpu", overrides=["train.schedule=constant", *ov])
    return C.resolve("cora-gcn", overrides=ov)


def peak(spec: dict) -> dict:
    """GFLOP/s of a 4096x4096 matmul, float32 and bfloat16 (median of `reps` after a warm-up)."""
    import statistics

    from lth_tf.platform.backend import tf
    from lth_tf.platform.platform import Platform

    n, reps = spec.get("n", 4096), spec.get("reps", 5)
    out = {}
    for dtype in ("float32", "bfloat16"):
        a = tf.random.normal((n, n), dtype=tf.float32)
        a = tf.cast(a, dtype)
        b = tf.identity(a)
        float(tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32)))  # warm-up: oneDNN primitive
        walls, cpus = [], []
        for _ in range(reps):
            w, c = time.perf_counter(), time.process_time()
            r = tf.matmul(a, b)
            r.numpy()  # waits for it
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
        out[dtype] = {"gflops": 2 * n**3 / statistics.median(walls) / 1e9, "seconds": walls,
                      "cpu_use": sum(cpus) / sum(walls)}
    # Why training stays below the matmul peak: ResNet-18 w16's 3x3 convolutions are narrow
    # (16-128 channels); one forward conv of each stage's shape at batch 128, float32.
    convs = {}
    for hw, c in ((32, 16), (16, 32), (8, 64), (4, 128)):
        x = tf.random.normal((128, hw, hw, c))
        k = tf.random.normal((3, 3, c, c))
        tf.nn.conv2d(x, k, 1, "SAME").numpy()  # warm-up
        walls = []
        for _ in range(reps):
            w = time.perf_counter()
            tf.nn.conv2d(x, k, 1, "SAME").numpy()
            walls.append(time.perf_counter() - w)
        convs[f"{hw}x{hw}x{c}"] = 2 * 128 * hw * hw * c * c * 9 / statistics.median(walls) / 1e9
    return {**spec, "peak": out, "conv_gflops_f32": convs, "settings": Platform.single().settings(),
            "loadavg": os.getloadavg()[0]}


class _Images:
    """Fixed synthetic CIFAR-shaped batches (speed does not depend on the pixels)."""

    kind = "image"
    num_classes = 10
    input_shape = (32, 32, 3)

    def __init__(self, steps: int, batch_size: int):
        import numpy as np

        from lth_tf.platform.backend import tf

        rng = np.random.default_rng(0)
        n = steps * batch_size
        x = rng.standard_normal((n, 32, 32, 3), dtype=np.float32)
        y = rng.integers(0, 10, n)
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).cache()
        self.train = ds
        self.val = ds.take(1).cache()
        for _ in ds:  # fill the caches before timing
            pass
        for _ in self.val:
            pass


class _Feeds:
    """The shape of lth_tf.keras_side.training.feeds.Feeds over fixed batches."""

    def __init__(self, train, val, steps: int, is_graph: bool):
        self.train, self.val, self.test = train, val, val
        self.steps_per_epoch, self.is_graph = steps, is_graph
        self.examples_per_epoch = 0  # set by the caller: what train_round counts into the round's cost


def _timer(examples_per_epoch: int, train_only: bool):
    from lth_tf.platform.backend import keras

    class Timer(keras.callbacks.Callback):
        """Per epoch: wall and CPU seconds, up to validation if `train_only` (images: both
        sides validate with fit), else whole epochs (the GCN: lth-tf's full-batch loop
        has no separate validation phase, so whole epochs are what compares)."""

        def __init__(self):
            super().__init__()
            self.wall: list[float] = []
            self.cpu: list[float] = []
            self._open = False

        def on_epoch_begin(self, epoch, logs=None):
            self._t, self._c, self._open = time.perf_counter(), time.process_time(), True

        def _close(self):
            if self._open:
                self.wall.append(time.perf_counter() - self._t)
                self.cpu.append(time.process_time() - self._c)
                self._open = False

        def on_test_begin(self, logs=None):
            if train_only:
                self._close()

        def on_epoch_end(self, epoch, logs=None):
            self._close()

    t = Timer()
    t.examples = examples_per_epoch
    return t


def measure(spec: dict) -> dict:
    if spec["runner"] == "peak":
        return peak(spec)
    graph = spec["family"].startswith("gcn")
    if spec["runner"] == "keras":
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        import tensorflow  # noqa: F401  first: lth_tf then leaves oneDNN to TensorFlow's rule
    else:
        from lth_tf.platform import onednn

        onednn.choose(graph=graph)  # as `lth-tf run` does once it has read the config
    from lth_tf.core import masks as M
    from lth_tf.keras_side import data as datasets
    from lth_tf.keras_side import flops, models
    from lth_tf.keras_side import pruning as P
    from lth_tf.keras_side.training.feeds import Feeds
    from lth_tf.keras_side.training.optimizer import make_optimizer
    from lth_tf.keras_side.training.train import train_round
    from lth_tf.platform import runtime
    from lth_tf.platform.backend import keras, tf
    from lth_tf.platform.platform import Platform
    from lth_tf.search import run_settings

    exp = _experiment(spec)
    t = exp.train
    # What `lth-tf run` chooses for this workload on this CPU (speed.py's rules: the caller
    # points LTH_CACHE_DIR at an empty folder, so no `lth-tf tune` winner takes part).
    platform = Platform.from_settings(t, chosen=run_settings.for_run(exp, None))
    runtime.apply_precision(platform.precision if spec["runner"] != "keras" else "float32")
    if graph:
        data = datasets.load(exp.data, spec.get("data_dir"), seed=0)
        feeds = Feeds(data, 1, 0)
        examples = 1  # the GCN's figure is epochs per second
    else:
        data = _Images(spec["steps"], t.batch_size)
        feeds = _Feeds(data.train, data.val, spec["steps"], False)
        examples = spec["steps"] * t.batch_size
        feeds.examples_per_epoch = examples
    timer = _timer(examples, train_only=not graph)
    build = lambda seed: models.build(exp.model, data.input_shape, data.num_classes, seed)

    if spec["runner"] == "keras":
        model = build(0)
        model.compile(
            optimizer=make_optimizer(t, t.epochs * feeds.steps_per_epoch),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
            jit_compile=platform.jit_compile,
        )
        if graph:
            one = tf.data.Dataset.from_tensors
            model.fit(one(feeds.train), validation_data=one(feeds.val), epochs=t.epochs,
                      callbacks=[timer], verbose=0)
        else:
            model.fit(feeds.train, validation_data=feeds.val, epochs=t.epochs, callbacks=[timer], verbose=0)
    else:
        wrapped = P.wrap(build(0))
        kernels = P.get_kernels(wrapped)
        P.set_masks(wrapped, M.prune(kernels, M.ones_like(kernels), 0.5))
        teacher = build(1) if spec["family"].endswith("_kd") else None
        if teacher is not None:
            exp = dataclasses.replace(exp, distill=dataclasses.replace(exp.distill, enabled=True))
        train_round(wrapped, feeds, exp, 1, teacher=teacher, extra_callbacks=[timer], platform=platform)

    skip = spec["warmup_epochs"]  # tracing / XLA compilation
    wall, cpu = timer.wall[skip:], timer.cpu[skip:]
    macs = flops.model_macs(build(0), graph=flops.graph_size(data) if graph else None).dense
    per_example = flops.train_flops(macs, 1)  # 3 passes x 2 FLOPs per MAC
    nodes = int(data.y.shape[0]) if graph else 1  # a GCN epoch trains every node once
    return {
        **spec,
        "per_second": [examples / w for w in wall],
        "gflops": [per_example * nodes * examples / w / 1e9 for w in wall],
        "dense_macs_per_example": macs,
        "cpu_use": sum(cpu) / sum(wall),
        # keras: plain float32 whatever lth-tf would choose (keras_policy says what ran)
        "settings": {**platform.settings(), **({"precision": "float32"} if spec["runner"] == "keras" else {})},
        "loadavg": os.getloadavg()[0],
    }


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
