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

`choose(graph)` applies the rule once per process; lth_tf.platform.backend calls
`choose()` (image default) when TensorFlow is imported through lth_tf, so a caller
that knows the data kind (the CLI, after reading the config) calls
`choose(graph=...)` first, or `choose(enabled=...)` with the value the run's speed
settings chose (lth_tf/platform/speed.py: the rule table, a `lth-tf tune` winner, or
what a resumed run started with).

Who chose is recorded in the environment, next to the variable TensorFlow read:
`LTH_ONEDNN_CHOSEN=<pid>:<source>`. The choice is a fact of the process (TF reads
the variable once), and the environment is the process's own record of it, so
`source()` recovers it from anywhere without a module global. The pid keeps it
per process: a child inherits the variable (its source is then "environment",
as before) but not our record of who set it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

VAR = "TF_ENABLE_ONEDNN_OPTS"
RECORD = "LTH_ONEDNN_CHOSEN"  # "<pid>:<source>", written by the first choose() of process <pid>
# Sources: "environment" (the variable was set before lth_tf chose), "lth_tf" (our
# rule), or "tensorflow" (TensorFlow was loaded before lth_tf: its own rule holds).


@dataclass(frozen=True)
class State:
    """oneDNN in this process: on or off, who chose, and the variable's value TF read."""

    enabled: bool
    source: str | None
    value: str | None


def default_for(graph: bool) -> str:
    """lth-tf's value of TF_ENABLE_ONEDNN_OPTS for image ("1") or graph ("0") data."""
    return "0" if graph else "1"


def source() -> str | None:
    """Who chose oneDNN for this process, or None before the first `choose`."""
    pid, _, chosen = os.environ.get(RECORD, "").partition(":")
    return chosen if pid == str(os.getpid()) and chosen else None


def choose(graph: bool = False, enabled: bool | None = None) -> str:
    """Apply the rule for this process (only the first call decides); return the source.

    `enabled`: the value chosen for this run (default: the rule for `graph`); the
    user's variable, or TensorFlow loaded already, still wins.
    """
    chosen = source()
    if chosen is None:
        if VAR in os.environ:
            chosen = "environment"
        elif "tensorflow" in sys.modules:
            chosen = "tensorflow"
        else:
            os.environ[VAR] = default_for(graph) if enabled is None else ("1" if enabled else "0")
            chosen = "lth_tf"
        os.environ[RECORD] = f"{os.getpid()}:{chosen}"
    return chosen
