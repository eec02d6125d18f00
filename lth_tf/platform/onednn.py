"""Whether TensorFlow's oneDNN kernels are on: one choice per process, before TF loads.

TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, when it loads (setting it later has
no effect), and turns oneDNN on by default only on CPUs with AVX512_VNNI,
AVX512_BF16 or AMX, so on AVX2 machines (many AMD servers) it is off.
benchmarks/speed.py measured on a shared 2-core AVX2 EPYC: oneDNN trains
ResNet-18 w16 ~1.5-2.8x faster (paired with everything else off); the plain GCN
(sparse ops, which oneDNN does not touch) gave paired ratios 0.41-1.61x (median
~0.7x, noise-dominated: ~10 ms epochs under load) while the GCN with distillation
was 1.13-1.21x faster. As the GCN may be slower and must never be, the rule is:
on for image data, off (TensorFlow's default here) for graph data, and a value
the user exported always wins. Pure module: no TensorFlow import.

`choose(graph)` applies the rule once; lth_tf.platform.backend calls `choose()` (image
default) when TensorFlow is imported through lth_tf, so a caller that knows the
data kind (the CLI, after reading the config) calls `choose(graph=...)` first.
"""

from __future__ import annotations

import os
import sys

VAR = "TF_ENABLE_ONEDNN_OPTS"
# Where this process's choice came from, set by the first choose():
# "environment" (the variable was set before lth_tf chose), "lth_tf" (our rule),
# or "tensorflow" (TensorFlow was loaded before lth_tf: its own rule holds).
SOURCE: str | None = None


def default_for(graph: bool) -> str:
    """lth-tf's value of TF_ENABLE_ONEDNN_OPTS for image ("1") or graph ("0") data."""
    return "0" if graph else "1"


def choose(graph: bool = False) -> str:
    """Apply the rule for this process (only the first call decides); return the source."""
    global SOURCE
    if SOURCE is None:
        if VAR in os.environ:
            SOURCE = "environment"
        elif "tensorflow" in sys.modules:
            SOURCE = "tensorflow"
        else:
            os.environ[VAR] = default_for(graph)
            SOURCE = "lth_tf"
    return SOURCE
