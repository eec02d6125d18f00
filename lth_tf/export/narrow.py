"""`lth-tf export --format narrow`: a round's ticket written as its narrower model.

The narrowing itself (which channels go, the sliced weights) is
`lth_tf/keras_side/narrow.py`; here the narrowed model is exported as a
SavedModel and compared with the dense one (parameters, MACs, kept channels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lth_tf.keras_side import flops
from lth_tf.keras_side import pruning as P
from lth_tf.keras_side.narrow import costs, kept_channels, narrow


def export_narrow(search: Any, round: int, out: str | Path) -> tuple[Path, list[str]]:
    """Export round `round` of a `LotterySearch` narrowed; returns the path and report lines."""
    from lth_tf.export import export_savedmodel

    wrapped = search.model_for_round(round)
    model = narrow(wrapped)
    kept = kept_channels(wrapped)
    data = search.served_data
    graph = None if data is None else flops.graph_size(data)
    dense = costs(P.strip(wrapped), graph)
    mine = costs(model, graph)
    path = export_savedmodel(model, Path(out), data)
    lines = [
        f"{'dense:':8s} " + ", ".join(f"{v:,} {k}" for k, v in dense.items()),
        f"{'narrow:':8s} "
        + ", ".join(f"{v:,} {k} ({100 * v / max(1, dense[k]):.1f}%)" for k, v in mine.items())
        + f"  ({path})",
    ]
    cut = [f"{n} {k}/{t}" for n, (k, t) in kept.items() if k < t]
    lines.append(f"{'':8s} channels kept: {', '.join(cut) if cut else 'all (no channel is unused)'}")
    return path, lines
