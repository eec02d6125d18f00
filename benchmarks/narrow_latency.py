"""Narrowed-export latency for benchmarks/efficiency.py (see its docstring).

The narrow export (lth_tf/export/formats/narrow.py) of a channel-pruned model against the
dense export of the same masked model: median seconds per call, interleaved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.serving import export_dense, latencies


def _channel_masked(wrapped, kernels: dict[str, np.ndarray], fraction: float):
    """Masks removing `fraction` of every prunable layer's channels (lowest L1 of the
    unpruned `kernels` first); (stripped model, narrowed model)."""
    from lth_tf.core import masks as M
    from lth_tf.core.masks import channels as CH
    from lth_tf.keras_side import pruning as P
    from lth_tf.keras_side.narrow import narrow

    plan = P.channel_plan(wrapped)
    P.set_masks(wrapped, CH.prune_to_fraction(kernels, M.ones_like(kernels), plan, fraction, "layerwise"))
    P.set_kernels(wrapped, kernels)
    return P.strip(wrapped), narrow(wrapped)


def narrow_latency(wrapped, name: str, fractions: list[float], data, signature: str,
                   feeds: list[tuple[Any, dict[str, Any], int]], work: Path) -> list[dict[str, Any]]:
    """Rows of narrow vs dense latency; `feeds` = [(batch label, inputs, calls)]."""
    from lth_tf.keras_side import flops
    from lth_tf.keras_side import pruning as P
    from lth_tf.keras_side.narrow import costs

    kernels = P.get_kernels(wrapped)
    graph = flops.graph_size(data)
    rows = []
    for i, f in enumerate(fractions):
        plain, small = _channel_masked(wrapped, kernels, f)
        paths = {"dense": export_dense(plain, None, data, work / f"{name}-n{i}-dense"),
                 "narrow": export_dense(small, None, data, work / f"{name}-n{i}-narrow")}
        size = {"dense": costs(plain, graph), "narrow": costs(small, graph)}
        for batch, inputs, calls in feeds:
            sec = latencies(paths, signature, inputs, calls)
            rows.append({"model": name, "channels_removed": f, "batch": batch, "calls": calls, "seconds": sec,
                         "vs_dense": {k: v / sec["dense"] for k, v in sec.items()}, "costs": size})
    return rows


def image_narrow_latency(name: str, width: int | None, fractions: list[float], work: Path,
                         calls: int) -> list[dict[str, Any]]:
    from lth_tf.core import config as C
    from lth_tf.keras_side import models
    from lth_tf.keras_side import pruning as P
    from lth_tf.platform.backend import keras, tf

    keras.backend.clear_session()
    cfg = C.Model(name=name, width=width) if width else C.Model(name=name)
    wrapped = P.wrap(models.build(cfg, (32, 32, 3), 10, 0))
    feeds = []
    for batch in (1, 256):
        x = tf.constant(np.random.default_rng(batch).standard_normal((batch, 32, 32, 3)), tf.float32)
        feeds.append((batch, {"image": x}, calls if batch == 1 else max(5, calls // 10)))
    label = f"{name}_w{width}" if width else name
    return narrow_latency(wrapped, label, fractions, None, "serving_normalized", feeds, work)


def gcn_narrow_latency(search, fractions: list[float], work: Path, calls: int) -> list[dict[str, Any]]:
    x, a = search.data.inputs()
    inputs = {"x_indices": x.indices, "x_values": x.values, "x_dense_shape": x.dense_shape,
              "a_indices": a.indices, "a_values": a.values, "a_dense_shape": a.dense_shape}
    return narrow_latency(search.model_for_round(0), "gcn_cora", fractions, search.data, "serving_default",
                          [("whole graph (2708 nodes)", inputs, calls)], work)


def all_narrow_latency(search, fractions: list[float], work: Path, calls: int) -> list[dict[str, Any]]:
    rows = gcn_narrow_latency(search, fractions, work, calls)
    rows += image_narrow_latency("resnet18", 16, fractions, work, calls)
    return rows + image_narrow_latency("conv4", None, fractions, work, calls)


def narrow_headline(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {f"{r['model']} {100 * r['channels_removed']:.0f}% channels batch {r['batch']}":
            round(r["vs_dense"]["narrow"], 3) for r in rows}


def print_narrow(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        c = r["costs"]
        print(f"{r['model']:14s} {100 * r['channels_removed']:3.0f}% channels batch {r['batch']!s:>5}  "
              f"dense {1e3 * r['seconds']['dense']:8.2f} ms  narrow {1e3 * r['seconds']['narrow']:8.2f} ms "
              f"({r['vs_dense']['narrow']:.2f}x)  MACs {c['narrow']['macs'] / c['dense']['macs']:.2f}x")
