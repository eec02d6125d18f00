"""`narrow`: a channel-pruned ticket as a physically narrower model (fewer filters/units).

The narrowing (which channels go, the sliced weights) is
lth_tf/keras_side/narrow.py; the narrowed plain model is written as the dense
format writes any model, and the report compares it with the dense one
(parameters, MACs, kept channels). It is the format a channel-pruned ticket is
exported in when none is named; on a weight-pruned ticket it warns (`warning`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from lth_tf.core.paths import NoSpace
from lth_tf.export.formats.base import Exported, ExportFormat, ratio_lines
from lth_tf.export.formats.dense import FORMAT as DENSE
from lth_tf.storage import atomic


class Narrow(ExportFormat):
    name = "narrow"
    help = ("a channel-pruned ticket as a physically narrower model (fewer filters/units), "
            "the default for channel-pruned tickets (prune.structure=channels, refill)")
    default_for_channels = True

    def warning(self, channels: bool) -> str | None:
        if channels:
            return None
        return ("--format narrow on a weight-pruned ticket: a channel goes only when every weight "
                "reading it is pruned, so the model stays almost as wide; use --format sparse "
                "(zeros not stored), or prune with --set prune.structure=channels")

    def model(self, wrapped, search):
        from lth_tf.keras_side.narrow import narrow

        return narrow(wrapped), None

    def writer(self, model, data, pruned, threshold):
        return DENSE.writer(model, data, pruned, threshold)

    def report(self, exported: Exported) -> list[str]:
        from lth_tf.export import cost_report
        from lth_tf.keras_side import flops
        from lth_tf.keras_side import pruning as P
        from lth_tf.keras_side.narrow import costs, kept_channels

        data = exported.search.served_data
        graph = None if data is None else flops.graph_size(data)
        dense = costs(P.strip(exported.wrapped), graph)
        mine = costs(exported.model, graph)
        lines = [
            f"{'dense:':8s} " + ", ".join(f"{v:,} {k}" for k, v in dense.items()),
            f"{'narrow:':8s} "
            + ", ".join(f"{v:,} {k} ({100 * v / max(1, dense[k]):.1f}%)" for k, v in mine.items())
            + f"  ({exported.path})",
        ]
        cut = [f"{n} {k}/{t}" for n, (k, t) in kept_channels(exported.wrapped).items() if k < t]
        lines.append(f"{'':8s} channels kept: {', '.join(cut) if cut else 'all (no channel is unused)'}")
        lines += cost_report(exported.path)
        if exported.timing:
            lines += self._against_dense(exported)
        return lines

    def _against_dense(self, exported: Exported) -> list[str]:
        """The ratio of the narrow export's latency to the dense export of the same masked
        model, written beside it (inside the export, under a temporary name, as the base
        report's dense reference) and timed side by side with it."""
        from lth_tf.export import export_savedmodel
        from lth_tf.keras_side import pruning as P

        with tempfile.TemporaryDirectory(dir=exported.path, prefix=atomic.temp_prefix("dense"),
                                         suffix=".tmp") as tmp:
            try:
                dense = export_savedmodel(P.strip(exported.wrapped), Path(tmp) / "dense",
                                          exported.search.served_data, timing=False)
            except NoSpace:
                return [f"{'':8s} no latency ratio: no space left for the dense export to time beside it"]
            return ratio_lines(exported, {"dense": dense, "narrow": exported.path}, "the dense export")


FORMAT = Narrow()
