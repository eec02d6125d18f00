"""Overhead of our training path against plain Keras `fit`, same batches, one process.

Ours: the model inside tfmot pruning wrappers (a 50% global mask held fixed),
trained by `lth_tf.keras_side.training.train.train_round` with UpdatePruningStep, the mask enforcer,
epoch events, best-epoch selection and the stop check. Plain: the same
architecture without wrappers, `model.fit` with no callbacks. Both validate on
the same data every epoch. The figure is the median seconds per epoch
(first epoch excluded: tracing), ours / plain.

Both sides run with the settings a user of `lth-tf run` gets (oneDNN as
lth_tf.platform.backend sets it, the precision and XLA `lth-tf run` chooses for the workload; they are
recorded in the result as `runtime`), so this isolates the cost of the wrappers
and callbacks; benchmarks/speed.py compares against TensorFlow's own defaults.

    python benchmarks/overhead.py            # ResNet-18 w16 (CIFAR batches) and GCN (Cora)
    python benchmarks/overhead.py --quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import write_result


class _Feeds:
    """A stand-in for training.feeds.Feeds holding fixed, cached batches."""

    def __init__(self, train, val, test, steps, is_graph, examples_per_epoch):
        self.train, self.val, self.test = train, val, test
        self.steps_per_epoch, self.is_graph = steps, is_graph
        self.examples_per_epoch = examples_per_epoch  # read by train_round's cost record


def _epoch_timer():
    from lth_tf.platform.backend import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._t)

    return EpochTimer()


def measure(family: str, epochs: int, steps: int, data_dir: str | None) -> dict:
    from lth_tf.core import config as C
    from lth_tf.core import masks as M
    from lth_tf.keras_side import data as datasets
    from lth_tf.keras_side import models
    from lth_tf.keras_side import pruning as P
    from lth_tf.keras_side.training.feeds import Feeds
    from lth_tf.keras_side.training.metrics import compile_plain
    from lth_tf.keras_side.training.optimizer import make_optimizer
    from lth_tf.keras_side.training.train import train_round
    from lth_tf.platform import runtime
    from lth_tf.platform.backend import keras, tf
    from lth_tf.platform.platform import Platform
    from lth_tf.search import run_settings

    if family == "resnet18_w16":
        exp = C.resolve("cifar10-resnet18-cpu", overrides=[f"train.epochs={epochs}", "train.schedule=constant"])
        data = datasets.load(exp.data, data_dir, seed=0)
        bs = exp.train.batch_size
        full = Feeds(data, bs, 0)
        train = full.train.take(steps).cache()
        val = full.val.take(max(1, steps // 4)).cache()
        for _ in train:  # fill the caches before timing
            pass
        for _ in val:
            pass
        images_per_epoch = steps * bs
        feeds = _Feeds(train, val, val, steps, False, images_per_epoch)
        fit_data = {"x": train, "validation_data": val}
    else:
        exp = C.resolve("cora-gcn", overrides=[f"train.epochs={epochs}"])
        data = datasets.load(exp.data, data_dir, seed=0)
        feeds = Feeds(data, 1, 0)
        images_per_epoch = int(data.train_mask.sum())
        # What a user of plain Keras writes: fit on the one-batch dataset.
        as_ds = tf.data.Dataset.from_tensors
        fit_data = {"x": as_ds(feeds.train), "validation_data": as_ds(feeds.val)}

    platform = Platform.from_settings(exp.train, chosen=run_settings.for_run(exp, None))  # as `lth-tf run` chooses
    runtime.apply_precision(platform.precision)
    # Plain Keras: same architecture and initial weights, no wrappers, no callbacks.
    keras.backend.clear_session()
    plain = models.build(exp.model, data.input_shape, data.num_classes, 0)
    compile_plain(plain, make_optimizer(exp.train, epochs * feeds.steps_per_epoch), platform.jit_compile)
    t_plain = _epoch_timer()
    plain.fit(fit_data["x"], validation_data=fit_data["validation_data"], epochs=epochs,
              callbacks=[t_plain], verbose=0)

    # Ours: wrapped, 50% global mask, the full callback set of a lottery round.
    keras.backend.clear_session()
    wrapped = P.wrap(models.build(exp.model, data.input_shape, data.num_classes, 0))
    kernels = P.get_kernels(wrapped)
    P.set_masks(wrapped, M.prune(kernels, M.ones_like(kernels), 0.5))
    t_ours = _epoch_timer()
    train_round(wrapped, feeds, exp, 1, extra_callbacks=[t_ours], platform=platform)

    plain_s = statistics.median(t_plain.times[1:])
    ours_s = statistics.median(t_ours.times[1:])
    return {
        "family": family,
        "epochs": epochs,
        "steps_per_epoch": feeds.steps_per_epoch,
        "examples_per_epoch": images_per_epoch,
        "plain_seconds_per_epoch": plain_s,
        "ours_seconds_per_epoch": ours_s,
        "plain_examples_per_second": images_per_epoch / plain_s,
        "ours_examples_per_second": images_per_epoch / ours_s,
        "ratio": ours_s / plain_s,
        "runtime": platform.settings(),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    t0 = time.time()
    resnet = measure("resnet18_w16", epochs=4 if args.quick else 6,
                     steps=15 if args.quick else 40, data_dir=args.data_dir)
    gcn = measure("gcn_cora", epochs=60 if args.quick else 200, steps=1, data_dir=args.data_dir)
    headline = {"ratio": resnet["ratio"], "ratio_resnet18_w16": resnet["ratio"],
                "ratio_gcn_cora": gcn["ratio"], "target": 1.10,
                "met": resnet["ratio"] <= 1.10 and gcn["ratio"] <= 1.10}
    path = write_result("overhead", headline, {"results": [resnet, gcn]}, args.quick, time.time() - t0)
    print(path)
    for r in (resnet, gcn):
        print(f"{r['family']:14s} plain {r['plain_seconds_per_epoch']:.4f}s/epoch  "
              f"ours {r['ours_seconds_per_epoch']:.4f}s/epoch  ratio {r['ratio']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
