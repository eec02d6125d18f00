"""Where a float32 training step of ResNet-18 w16 spends its time, against the matmul peak.

benchmarks/speed.py finds float32 training of ResNet-18 w16 at 53-66% of a 4096x4096
float32 matmul's GFLOP/s (issue target: 70%). This splits one training step, in one
process (oneDNN on, float32, the cifar10-resnet18-cpu preset's model and batch of 128,
synthetic images), into what the 6 x MACs accounting counts and the rest:

- step:   a whole Keras train step (forward, loss, backward, SGD momentum update, the L2
          terms): the compiled train function fit calls, on a fixed batch;
- gradients: the same forward, loss and backward without the update (the difference is
          the optimizer's update and Keras' bookkeeping around it);
- convs:  every convolution and the Dense layer alone, forward and both backward passes
          (input and kernel gradients), in one tf.function: exactly the FLOPs counted;
- batchnorm, relu, add: every BatchNorm (training mode), ReLU and residual add alone,
          forward and backward through the layer's own call, at its input shapes;
- per layer shape: each distinct convolution alone, the same three passes;
- peak:   the 4096x4096 float32 matmul (speed.py's peak).

All of them are timed in turns (benchmarks/common.round_robin, `--rounds` times) so load
on a shared machine falls on all alike; medians of wall and CPU seconds. What it prints and stores:
GFLOP/s of step and convs against the peak, the share of the step spent outside the
counted convolutions (BatchNorm, ReLU, residual adds, loss, optimizer, layout reorders),
and per shape the convolutions' GFLOP/s: the narrow early convolutions (16 channels at
32x32) run far under the peak.

    python benchmarks/step_profile.py              # about a minute on 2 quiet cores
    python benchmarks/step_profile.py --quick      # 3 rounds: the script works
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import cpu_facts, round_robin, write_result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=15, help="round-robin rounds (default 15)")
    p.add_argument("--steps", type=int, default=4, help="train steps (and conv passes) per timed call")
    p.add_argument("--quick", action="store_true", help="3 rounds of 1 step")
    p.add_argument("--note", default="", help="what else ran on the machine")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.steps = 3, 1
    t0 = time.time()

    from lth_tf.platform import onednn

    onednn.choose(graph=False)  # as `lth-tf run` does for image data: oneDNN on
    import numpy as np

    from lth_tf.core import config as C
    from lth_tf.keras_side import flops, models
    from lth_tf.keras_side.training.optimizer import make_optimizer
    from lth_tf.platform import runtime
    from lth_tf.platform.backend import keras, tf
    from lth_tf.platform.platform import Platform

    runtime.apply_precision("float32")
    exp = C.resolve("cifar10-resnet18-cpu", overrides=["train.precision=float32", "train.schedule=constant"])
    batch = exp.train.batch_size
    model = models.build(exp.model, (32, 32, 3), 10, 0)
    model.compile(optimizer=make_optimizer(exp.train, 1000),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((batch, 32, 32, 3), dtype=np.float32))
    y = tf.constant(rng.integers(0, 10, batch))

    # The counted layers, each with its input shape, as the 6 x MACs accounting sees them.
    layers = []
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            shape = (batch, *layer.input.shape[1:])
            kernel = tf.Variable(layer.kernel.numpy())
            layers.append((layer, shape, kernel))
    inputs = {id(layer): tf.constant(rng.standard_normal(shape, dtype=np.float32)) for layer, shape, _ in layers}

    def passes(layer, x_in, kernel):
        """Forward, input gradient and kernel gradient of one layer (what 3 x 2 x MACs counts)."""
        with tf.GradientTape() as tape:
            tape.watch(x_in)
            if isinstance(layer, keras.layers.Conv2D):
                out = tf.nn.conv2d(x_in, kernel, layer.strides, layer.padding.upper())
            else:
                out = tf.matmul(x_in, kernel)
        gx, gk = tape.gradient(out, [x_in, kernel], output_gradients=tf.ones_like(out))
        return tf.reduce_sum(gx) + tf.reduce_sum(gk)

    @tf.function
    def all_convs():
        return tf.add_n([passes(layer, inputs[id(layer)], k) for layer, _, k in layers])

    # What the counting leaves out, each kind at its layers' input shapes, forward and
    # backward through the layer's own call: BatchNorm in training mode, ReLU, the adds.
    others = {"batchnorm": keras.layers.BatchNormalization, "relu": keras.layers.ReLU, "add": keras.layers.Add}
    other_inputs = {kind: [] for kind in others}
    for layer in model.layers:
        for kind, cls in others.items():
            if isinstance(layer, cls):
                ins = layer.input if isinstance(layer.input, list) else [layer.input]
                other_inputs[kind].append((layer, [tf.constant(rng.standard_normal((batch, *t.shape[1:]),
                                                                                  dtype=np.float32)) for t in ins]))

    def other_passes(kind):
        @tf.function
        def run():
            total = []
            for layer, ins in other_inputs[kind]:
                with tf.GradientTape() as tape:
                    tape.watch(ins)
                    out = layer(ins if kind == "add" else ins[0], training=True)
                grads = tape.gradient(out, ins + layer.trainable_weights, output_gradients=tf.ones_like(out))
                total += [tf.reduce_sum(g) for g in grads]
            return tf.add_n(total)
        return run
    other_fns = {kind: other_passes(kind) for kind in others}

    # One function per distinct (input shape, kernel shape, stride): the per-shape efficiency.
    shapes: dict[str, tuple] = {}
    for layer, shape, kernel in layers:
        key = f"{'x'.join(map(str, shape[1:]))} k{'x'.join(map(str, kernel.shape))} s{layer.strides[0] if isinstance(layer, keras.layers.Conv2D) else 1}"
        shapes.setdefault(key, (layer, kernel, 0))
        shapes[key] = (layer, kernel, shapes[key][2] + 1)
    shape_fns = {key: tf.function(lambda layer=layer, k=kernel: passes(layer, inputs[id(layer)], k))
                 for key, (layer, kernel, _) in shapes.items()}

    macs_rows = {r.name: r.dense_macs for r in flops.layer_macs(model)}
    layer_macs = {layer.name: macs_rows.get(layer.name) for layer, _, _ in layers}
    macs_total = flops.model_macs(model).dense  # per example
    counted = sum(v for v in layer_macs.values() if v)
    shape_macs = {key: layer_macs[layer.name] for key, (layer, _, _) in shapes.items()}

    n = 4096
    a = tf.random.normal((n, n))
    b = tf.identity(a)

    # The step as fit runs it: Keras' compiled train function over an iterator.
    train_fn = model.make_train_function()
    batches = iter(tf.data.Dataset.from_tensors((x, y)).repeat())

    def step():
        for _ in range(args.steps):
            float(train_fn(batches)["loss"])

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def gradients():
        """The step without the optimizer's update: forward, loss with the L2 terms, backward."""
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True)) + tf.add_n(model.losses)
        return tf.add_n([tf.reduce_sum(g) for g in tape.gradient(loss, model.trainable_weights)])

    def grads():
        for _ in range(args.steps):
            float(gradients())

    def convs():
        for _ in range(args.steps):
            float(all_convs())

    def peak():
        tf.matmul(a, b).numpy()

    fns = {"step": step, "gradients": grads, "convs": convs, "peak": peak,
           **{kind: (lambda f=f: [float(f()) for _ in range(args.steps)]) for kind, f in other_fns.items()},
           **{f"shape {k}": (lambda f=f: [float(f()) for _ in range(args.steps)]) for k, f in shape_fns.items()}}
    for f in fns.values():  # warm-up: tracing, oneDNN primitives
        f()
    times = round_robin(fns, args.rounds, progress=lambda r, t: print(
        f"round {r + 1}/{args.rounds}", {k: round(statistics.median(v["wall"]), 4) for k, v in t.items()
                                         if not k.startswith("shape")}, flush=True))

    med = {k: {"wall": statistics.median(v["wall"]), "cpu": statistics.median(v["cpu"])} for k, v in times.items()}
    peak_flops = 2 * n**3
    train_flops = flops.train_flops(macs_total, batch * args.steps)
    conv_flops = flops.train_flops(counted, batch * args.steps)

    def rates(name: str, flop: float) -> dict:
        m = med[name]
        return {"gflops": flop / m["wall"] / 1e9, "gflops_per_cpu_second": flop / m["cpu"] / 1e9,
                "seconds": m["wall"], "cpu_seconds": m["cpu"]}

    out = {"peak": rates("peak", peak_flops), "step": rates("step", train_flops),
           "convs": rates("convs", conv_flops)}
    for k in ("step", "convs"):
        for clock in ("gflops", "gflops_per_cpu_second"):
            out[k][f"share_of_peak{'' if clock == 'gflops' else '_per_cpu_second'}"] = out[k][clock] / out["peak"][clock]
    per_shape = {}
    for key, (layer, _, count) in shapes.items():
        f = flops.train_flops(shape_macs[key], batch * args.steps) if shape_macs[key] else None
        r = rates(f"shape {key}", f) if f else {}
        share = r["gflops_per_cpu_second"] / out["peak"]["gflops_per_cpu_second"] if r else None
        per_shape[key] = {"kind": "conv" if isinstance(layer, keras.layers.Conv2D) else "dense", "layers": count,
                          "macs_per_example": shape_macs[key], **r, "share_of_peak_per_cpu_second": share}
    # Of the step's CPU time: the counted convolutions, each other kind (each run alone), the rest.
    outside = 1 - med["convs"]["cpu"] / med["step"]["cpu"]
    step_split = {k: med[k]["cpu"] / med["step"]["cpu"] for k in ("convs", *others)}
    # the optimizer's update and Keras' step around it: step minus the gradients alone
    step_split["update"] = 1 - med["gradients"]["cpu"] / med["step"]["cpu"]
    step_split["rest"] = 1 - sum(step_split.values())
    headline = {"cpu": cpu_facts(), "model": "resnet18 w16", "batch": batch, "precision": "float32",
                "settings": Platform.single().settings(),
                "counted_macs_share": counted / macs_total,
                "step_share_of_peak": out["step"]["share_of_peak"],
                "step_share_of_peak_per_cpu_second": out["step"]["share_of_peak_per_cpu_second"],
                "convs_share_of_peak_per_cpu_second": out["convs"]["share_of_peak_per_cpu_second"],
                "step_cpu_share_outside_convs": outside,
                "step_cpu_split": step_split,
                "loadavg_end": os.getloadavg()}
    path = write_result("step_profile", headline, {"rates": out, "per_shape": per_shape, "rounds": args.rounds,
                                                    "steps_per_call": args.steps, "note": args.note}, args.quick,
                        time.time() - t0)
    print(path)
    print(f"peak {out['peak']['gflops_per_cpu_second']:.0f} GFLOP/s per CPU-second")
    for k in ("step", "convs"):
        print(f"{k}: {out[k]['gflops_per_cpu_second']:.0f} GFLOP/s per CPU-second = "
              f"{out[k]['share_of_peak_per_cpu_second']:.0%} of peak (wall {out[k]['share_of_peak']:.0%})")
    print(f"step CPU time outside the counted convolutions: {outside:.0%}; split "
          + ", ".join(f"{k} {v:.0%}" for k, v in step_split.items()))
    for key, r in per_shape.items():
        if r.get("gflops_per_cpu_second"):
            print(f"  {key:32s} x{r['layers']}  {r['gflops_per_cpu_second']:6.0f} GFLOP/s per CPU-s "
                  f"({r['share_of_peak_per_cpu_second']:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
