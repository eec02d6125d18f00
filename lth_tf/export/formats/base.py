"""What every export format is: the `ExportFormat` interface and the `Exported` round it reports on.

No TensorFlow at import (the CLI checks --format before TF loads): a format
imports what it writes with inside its methods.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lth_tf.core.paths import NoSpace, size_text
from lth_tf.storage import atomic

Writer = Callable[[Path], dict[str, Any]]  # writes the export into a new folder; returns the marker's fields


@dataclass(frozen=True)
class Exported:
    """A round just exported (lth_tf/export/ticket.py `export_with_report`), for its report lines."""

    search: Any  # the LotterySearch
    round: int
    path: Path
    wrapped: Any  # the round's wrapped model (masks in its wrappers)
    model: Any  # the plain model that was written
    export_dense: Callable[[Path], Path]  # writes round 0 as a dense export there (not timed); returns the path
    timing: bool = True  # the export was timed; a report may time its dense reference beside it


class ExportFormat:
    """An export format of `lth-tf export --format` and `TicketSearch.export(format=)`.

    A subclass sets `name`, `help` (its part of the --format help) and
    `graph_refusal`, and implements `writer`; `refusal`, `out_refusal`, `model`,
    `cost`, `latency` and `report` have defaults.
    """

    name: str = ""
    help: str = ""
    # Non-empty: graph models are refused before TensorFlow loads, with this reason and fix.
    graph_refusal: str = ""
    # True: the format written when none is named, for tickets of a criterion that removes
    # whole channels (`Criterion.channels`); `formats.default` picks it. Others get dense.
    default_for_channels: bool = False

    def warning(self, channels: bool) -> str | None:
        """One line to warn with when this format does not suit the ticket (`channels`: the
        run's criterion removes whole channels); None when it does."""
        return None

    def refusal(self, exp: Any) -> str:
        """Why this format cannot export the run of `exp` (an Experiment), or "" (pure: before TF)."""
        return self.graph_refusal if exp.is_graph else ""

    def out_refusal(self, path: Path) -> str:
        """Why this format cannot write to `path`, or "" (pure: before TF)."""
        return ""

    def model(self, wrapped: Any, search: Any) -> tuple[Any, Any]:
        """(the model to write, the variables it prunes or None) from a round's wrapped model
        and its search (a LotterySearch)."""
        from lth_tf.keras_side import pruning as P

        return P.strip(wrapped), None

    def writer(self, model: Any, data: Any, pruned: Any, threshold: float | None) -> Writer:
        """What `lth_tf.export.export_savedmodel` calls to write `model` (after its own checks)."""
        raise NotImplementedError

    def cost(self, model: Any, data: Any) -> dict[str, Any] | None:
        """The marker's `cost` of the written `model` (`flops.served_cost`: params, nonzero
        params, MACs and nonzero MACs per example), or None where it is not counted."""
        from lth_tf.keras_side import flops

        return flops.served_cost(model, flops.graph_size(data))

    def latency(self, folder: Path, data: Any) -> dict[str, Any]:
        """The marker's `latency` fields of the export just written into `folder`
        (lth_tf/export/latency.py: the SavedModel's serving_default, measured)."""
        from lth_tf.export import latency

        return latency.measure(folder, data)

    # True: `report` times the export beside its dense reference, interleaved, and prints the ratio.
    compare_latency: bool = False

    def report(self, exported: Exported) -> list[str]:
        """The lines `lth-tf export` prints: the export's sizes next to the dense round 0's,
        its cost and latency (`cost_report`), and with `compare_latency` its latency
        against the dense round 0's, measured side by side."""
        from lth_tf.export import cost_report, size_report

        # Inside the export, under a temporary name: a kill leaves nothing outside --out,
        # and the next export to --out drops the leftover (lth_tf/export/keep.py).
        with tempfile.TemporaryDirectory(dir=exported.path, prefix=atomic.temp_prefix("dense"),
                                         suffix=".tmp") as tmp:
            try:
                dense = exported.export_dense(Path(tmp) / "dense")
            except NoSpace as e:  # the export itself is complete: report it without the comparison
                needed = f" (about {size_text(e.needed)})" if e.needed else ""
                skipped = f"no dense comparison: no space left for the dense reference{needed}"
                return [*size_report(exported.path, label="ticket"), *cost_report(exported.path),
                        f"{'':8s} {skipped}; the export above is complete"]
            lines = [*size_report(exported.path, dense=dense, label="ticket"), *cost_report(exported.path)]
            if self.compare_latency and exported.timing:
                lines += ratio_lines(exported, {"dense": dense, self.name: exported.path}, "the dense round 0")
            return lines

    def __repr__(self) -> str:
        return f"<export format {self.name!r}>"


def ratio_lines(exported: Exported, paths: dict[str, Path], against: str) -> list[str]:
    """One line: the latency of `paths`' last export over its first ("dense"), per batch size,
    both timed side by side here (lth_tf/export/latency.py `side_by_side`); none when they
    cannot be called here."""
    from lth_tf.export import latency

    seconds = latency.side_by_side(paths, getattr(exported.search, "served_data", None))
    if not seconds:
        return []
    dense, mine = (seconds[k] for k in paths)
    label = list(paths)[-1]
    per = ", ".join(f"{run} {mine[run] / dense[run]:.2f}x" for run in dense)
    return [f"{'':8s} {label} latency / {against}'s, timed side by side in this process: {per}"]
