"""A round of a search written as a ticket: what `lth-tf export`, the API, the TUI and a run's finish use.

    path = export_round(search, round=None, out=PATH, format="dense")   # default round: the winner
    search.finish(TicketExporter())    # the winner into RUN_DIR/ticket/

`export_round` strips the wrappers of the round's stored model and writes it in
one of `FORMATS` (`lth_tf.export.export_savedmodel`). A run given its data from
Python and opened without it (`LotterySearch.served_data` is None) exports
without mean/std: float inputs only, and the export's marker JSON says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lth_tf.export import export_savedmodel, is_savedmodel, sizes, sparse
from lth_tf.keras_side.pruning import wrap
from lth_tf.search.lottery import LotterySearch
from lth_tf.storage import rundir


def export_round(
    search: LotterySearch, round: int | None = None, out: str | Path | None = None, format: str = "dense"
) -> Path:
    """Write a round's ticket (default: the winner) to `out` (default: RUN_DIR/ticket).

    `format` "sparse" stores the pruned kernels without their zeros (lth_tf.export.sparse).
    """
    if round is None:
        round = search.winner_round()
    path = Path(out) if out else rundir.ticket_dir(search.run_dir)
    with search.platform.local():  # plain variables: one process exports, no collectives
        wrapped = search.model_for_round(round)
        plain = wrap.strip(wrapped)
    pruned = sparse.pruned_weights(wrapped, plain) if format == "sparse" else None
    export_savedmodel(plain, path, search.served_data, format=format, pruned=pruned)
    return path


class TicketExporter:
    """Writes the winning ticket as a dense SavedModel when a search finishes."""

    def write(self, search: LotterySearch, round: int, path: Path) -> dict[str, Any]:
        path = export_round(search, round, path)
        return {"path": str(path), **sizes(path)}  # saved_model_bytes, gzip_bytes

    def existing(self, path: Path) -> dict[str, Any] | None:
        return sizes(path) if is_savedmodel(path) else None
