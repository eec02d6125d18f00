"""Can a regrouped convolution beat the dense one on this CPU? (issue 26, IMP-Regroup)

Chen et al.'s IMP-Regroup turns a layer's unstructured mask into dense blocks: each block a
subset of output channels times a subset of input channels. Its best case at density 1/G is
G disjoint blocks, i.e. a block-diagonal kernel: a grouped convolution (after permuting
channels, which costs nothing at inference when folded into the neighbours). So if G groups
do not run faster than the dense convolution here, no regrouping with the kernels TensorFlow
has can. Timed, interleaved in one process (oneDNN on, float32, inference: forward only),
for ResNet-18 w16's 3x3 convolution shapes at batch 1 and 256:

- dense:         tf.nn.conv2d with the full kernel;
- groups G:      the same convolution with G groups (tf.nn.conv2d with an in/G kernel:
                 TensorFlow's grouped convolution), 1/G of the MACs;
- split G:       G separate convolutions on channel slices, concatenated (what a regrouped
                 layer with unequal blocks would run), 1/G of the MACs.

    python benchmarks/regroup_kernels.py            # under a minute on 2 quiet cores
    python benchmarks/regroup_kernels.py --quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import cpu_facts, round_robin, write_result

SHAPES = ((32, 16), (16, 32), (8, 64), (4, 128))  # (height = width, channels) of each stage
GROUPS = (2, 4)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=30, help="interleaved rounds (default 30)")
    p.add_argument("--quick", action="store_true", help="5 rounds")
    p.add_argument("--note", default="", help="what else ran on the machine")
    args = p.parse_args(argv)
    rounds = 5 if args.quick else args.rounds
    t0 = time.time()

    from lth_tf.platform import onednn

    onednn.choose(graph=False)
    from lth_tf.platform.backend import tf

    rng = tf.random.Generator.from_seed(0)
    calls = {}
    for hw, c in SHAPES:
        for batch in (1, 256):
            x = rng.normal((batch, hw, hw, c))
            k = rng.normal((3, 3, c, c))
            key = f"{hw}x{hw}x{c} b{batch}"
            calls[(key, "dense")] = tf.function(lambda x=x, k=k: tf.nn.conv2d(x, k, 1, "SAME"))
            for g in GROUPS:
                kg = rng.normal((3, 3, c // g, c))  # grouped: each output sees its group's inputs
                calls[(key, f"groups {g}")] = tf.function(lambda x=x, kg=kg: tf.nn.conv2d(x, kg, 1, "SAME"))
                parts = [rng.normal((3, 3, c // g, c // g)) for _ in range(g)]
                calls[(key, f"split {g}")] = tf.function(
                    lambda x=x, parts=parts, g=g: tf.concat(
                        [tf.nn.conv2d(xs, kp, 1, "SAME") for xs, kp in zip(tf.split(x, g, axis=-1), parts, strict=True)],
                        axis=-1))
    for f in calls.values():  # warm-up: tracing and oneDNN primitives
        f().numpy()
    timed = {k: (lambda f=f: f().numpy()) for k, f in calls.items()}
    times = round_robin(timed, rounds, reps=lambda name: 20 if name[0].endswith("b1") else 2)
    med = {k: statistics.median(v["wall"]) for k, v in times.items()}
    table = {}
    for (key, how), sec in med.items():
        table.setdefault(key, {})[how] = {"median_seconds": sec, "over_dense": sec / med[(key, "dense")]}
    headline = {"cpu": cpu_facts(),
                "best_over_dense": {key: min(v["over_dense"] for how, v in row.items() if how != "dense")
                                    for key, row in table.items()}}
    path = write_result("regroup_kernels", headline, {"table": table, "rounds": rounds, "note": args.note},
                        args.quick, time.time() - t0)
    print(path)
    for key, row in table.items():
        print(f"{key:16s} " + "  ".join(f"{how} {v['over_dense']:.2f}x" for how, v in row.items() if how != "dense")
              + f"   (dense {1e3 * row['dense']['median_seconds']:.2f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
