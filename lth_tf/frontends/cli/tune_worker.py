"""One candidate of `lth-tf tune`, measured in its own process (oneDNN is fixed when TF loads).

    python -m lth_tf.frontends.cli.tune_worker '{"experiment": {...}, "candidate": {...}, "data_dir": ...}'

`lth-tf tune` (lth_tf/frontends/cli/tune.py) starts one per candidate with
TF_ENABLE_ONEDNN_OPTS set for it. The worker builds the run's model and data as a
round trains them (wrapped, masks set, compiled like `train_round`, the Distiller
with distillation), takes two warm-up steps (tracing) and prints one JSON line
`{"ready": ..., "step_seconds": ...}`. Then, for each line `N` on stdin, it trains N
steps (images: N batches from the training pipeline; graphs: N full-batch epochs,
training and validation step, as `fit_full_batch` runs them) and prints
`{"seconds": wall, "cpu_seconds": ..., "examples": ...}`; `quit` or end of input ends it.
A failure prints `{"error": "<one line>"}` and exits 1.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from typing import Any

TUNE_BATCHES = 16  # distinct training batches an image worker keeps (the pipeline repeats them)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:400]


def build(spec: dict[str, Any], mark=lambda phase: None):
    """(step(n) -> examples, examples per step) for the spec's experiment and candidate.

    `mark(phase)` is called as each start-up phase ends (tensorflow, platform, data, model), so the
    coordinator can say where the start-up time went.
    """
    from lth_tf.core import config as C
    from lth_tf.platform import onednn

    exp = C.validate(C.from_dict(spec["experiment"]))
    cand = spec["candidate"]
    exp = replace(exp, train=replace(exp.train, precision=cand["precision"], jit_compile=cand["jit_compile"]))
    if not exp.is_graph:
        # A step's speed does not depend on how many images it draws from: a few batches' worth
        # loads and copies in a fraction of the time of all of them (~1 CPU s for CIFAR-10).
        keep = TUNE_BATCHES * exp.train.batch_size
        if not 0 < exp.data.train_subset <= keep:
            exp = replace(exp, data=replace(exp.data, train_subset=keep))
    onednn.choose(graph=exp.is_graph)  # the variable the coordinator set wins ("environment")

    from lth_tf.core import masks as M
    from lth_tf.keras_side import data as datasets
    from lth_tf.keras_side import models
    from lth_tf.keras_side import pruning as P
    from lth_tf.keras_side.training.distill import Distiller
    from lth_tf.keras_side.training.feeds import Feeds
    from lth_tf.keras_side.training.metrics import compile_plain
    from lth_tf.keras_side.training.optimizer import make_optimizer
    from lth_tf.platform import runtime, speed
    from lth_tf.platform.backend import keras, tf
    from lth_tf.platform.platform import Platform

    mark("tensorflow")
    chosen = speed.choose(exp.train, speed.Workload.of(exp), speed.Cpu.read(), os.environ)
    platform = Platform.from_settings(exp.train, chosen=chosen)
    runtime.apply_precision(platform.precision)
    mark("platform")
    data = datasets.load(exp.data, spec.get("data_dir"), seed=exp.seed)
    feeds = Feeds(data, exp.train.batch_size, exp.seed)
    mark("data")
    build_model = models.source(exp.model)
    shape, classes = tuple(data.input_shape), int(data.num_classes)
    keras.utils.set_random_seed(exp.seed)
    wrapped = P.wrap(build_model(shape, classes, exp.seed).model, exclude=exp.prune.exclude)
    P.set_masks(wrapped, M.ones_like(P.get_kernels(wrapped)))
    optimizer = make_optimizer(exp.train, 10**6)
    if exp.distill.enabled:
        teacher = P.strip(P.wrap(build_model(shape, classes, exp.seed + 1).model))
        trainer = Distiller(wrapped, teacher, alpha=exp.distill.alpha, temperature=exp.distill.temperature,
                            soft_on_all=exp.distill.all_nodes)
        trainer.compile(optimizer=optimizer, jit_compile=platform.jit_compile)
    else:
        trainer = wrapped
        compile_plain(wrapped, optimizer, platform.jit_compile)
    cbs = keras.callbacks.CallbackList(P.callbacks(), model=trainer)
    cbs.on_train_begin()
    mark("model")

    if feeds.is_graph:
        train_fn = tf.function(lambda: platform.run_step(trainer, trainer.train_step, feeds.train),
                               jit_compile=platform.jit_compile)
        test_fn = tf.function(lambda: platform.run_step(trainer, trainer.test_step, feeds.val),
                              jit_compile=platform.jit_compile)

        def one() -> None:
            cbs.on_train_batch_begin(0)
            float(train_fn()["loss"])
            float(test_fn()["loss"])

        per_step = feeds.examples_per_epoch
    else:
        iterator = iter(feeds.train.repeat())
        train_function = trainer.make_train_function()

        def one() -> None:
            cbs.on_train_batch_begin(0)
            logs = train_function(iterator)
            cbs.on_train_batch_end(0, logs)
            float(logs["loss"])  # waits for the step

        per_step = exp.train.batch_size

    def step(n: int) -> int:
        for _ in range(n):
            one()
        return n * per_step

    return step, per_step


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = sys.stdout
    try:
        # When each start-up phase ended: wall clock (time.time(), comparable across processes) and
        # this process's CPU seconds (what the phase cost, whatever else the machine runs).
        phases: dict[str, list[float]] = {}

        def mark(phase: str) -> None:
            phases[phase] = [time.time(), time.process_time()]

        step, per_step = build(json.loads(argv[0]), mark)
        step(1)  # tracing, oneDNN's first primitives
        mark("trace")
        t = time.perf_counter()
        step(1)
        mark("step")
        print(json.dumps({"ready": True, "step_seconds": time.perf_counter() - t, "examples_per_step": per_step,
                          "phases": phases}), file=out, flush=True)
        for line in sys.stdin:
            line = line.strip()
            if not line or line == "quit":
                break
            w, c = time.perf_counter(), time.process_time()
            examples = step(int(line))
            print(json.dumps({"seconds": time.perf_counter() - w, "cpu_seconds": time.process_time() - c,
                              "examples": examples, "loadavg": os.getloadavg()[0]}), file=out, flush=True)
    except Exception as e:  # noqa: BLE001 - the coordinator shows it as the candidate's error
        print(json.dumps({"error": _one_line(f"{type(e).__name__}: {e}")}), file=out, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Skip the interpreter's teardown of TensorFlow (seconds of CPU on a loaded machine, inside the
    # coordinator's budget): the worker has nothing to save.
    os._exit(code)
