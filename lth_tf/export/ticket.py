"""A round of a search written as a ticket: what `lth-tf export`, the API, the TUI and a run's finish use.

    path = export_round(search, round=None, out=PATH, format="dense")   # default round: the winner
    path, lines = export_with_report(search, round, out, format)       # lth-tf export
    search.finish(TicketExporter())    # the winner into RUN_DIR/ticket/

`export_round` takes the round's stored model, lets its format
(lth_tf/export/formats/) make the plain model to write (stripped, or narrowed)
and writes it (`lth_tf.export.export_savedmodel`). A run given its data from
Python and opened without it (`LotterySearch.served_data` is None) exports
without mean/std: float inputs only, and the export's marker JSON says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lth_tf.export import export_format, export_savedmodel, is_savedmodel, sizes
from lth_tf.export.formats import Exported
from lth_tf.search.lottery import LotterySearch
from lth_tf.storage import rundir


def export_round(
    search: LotterySearch, round: int | None = None, out: str | Path | None = None, format: str = "dense"
) -> Path:
    """Write a round's ticket (default: the winner) to `out` (default: RUN_DIR/ticket) in `format`."""
    return _export(search, round, out, format).path


def export_with_report(
    search: LotterySearch, round: int | None, out: str | Path, format: str = "dense"
) -> tuple[Path, list[str]]:
    """`export_round`, then the lines its format reports (sizes against the dense model, or costs)."""
    exported = _export(search, round, out, format)
    return exported.path, export_format(format).report(exported)


def _export(search: LotterySearch, round: int | None, out: str | Path | None, format: str) -> Exported:
    fmt = export_format(format)
    if round is None:
        round = search.winner_round()
    path = Path(out) if out else rundir.ticket_dir(search.run_dir)
    with search.platform.local():  # plain variables: one process exports, no collectives
        wrapped = search.model_for_round(round)
        model, pruned = fmt.model(wrapped, search)
    export_savedmodel(model, path, search.served_data, format=format, pruned=pruned)
    return Exported(search, round, path, wrapped, model, lambda dense: export_round(search, 0, dense))


class TicketExporter:
    """Writes the winning ticket as a dense SavedModel when a search finishes."""

    def write(self, search: LotterySearch, round: int, path: Path) -> dict[str, Any]:
        path = export_round(search, round, path)
        return {"path": str(path), **sizes(path)}  # saved_model_bytes, gzip_bytes

    def existing(self, path: Path) -> dict[str, Any] | None:
        return sizes(path) if is_savedmodel(path) else None
