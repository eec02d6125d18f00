"""A round of a search written as a ticket: what `lth-tf export`, the API, the TUI and a run's finish use.

    path = export_round(search, round=None, out=PATH, format=None)  # default round: the winner
    path, lines = export_with_report(search, round, out, format)    # lth-tf export
    search.finish(TicketExporter())    # the winner into RUN_DIR/ticket/

`format=None` is `formats.default`: narrow for a channel-pruned run (prune.structure
= channels or refill), dense otherwise; a format that does not suit the ticket (narrow on a
weight-pruned one) logs its warning. Every export records the run and round it
came from in its marker (`source`), and an export of another run at `out` is
refused unless `force`.

`export_round` takes the round's stored model, lets its format
(lth_tf/export/formats/) make the plain model to write (stripped, or narrowed)
and writes it (`lth_tf.export.export_savedmodel`). A run given its data from
Python and opened without it (`LotterySearch.served_data` is None) exports
without mean/std: float inputs only, and the export's marker JSON says so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lth_tf.core import criteria
from lth_tf.export import (
    check_target,
    export_format,
    export_savedmodel,
    export_source,
    formats,
    is_savedmodel,
    sizes,
)
from lth_tf.export.formats import Exported
from lth_tf.search.lottery import LotterySearch
from lth_tf.storage import rundir

log = logging.getLogger(__name__)


def export_round(
    search: LotterySearch, round: int | None = None, out: str | Path | None = None,
    format: str | None = None, force: bool = False, timing: bool = True,
) -> Path:
    """Write a round's ticket (default: the winner) to `out` (default: RUN_DIR/ticket) in `format`
    (default: `default_format(search)`); `force` replaces an export of another run at `out`;
    `timing=False` leaves the marker's measured latency out (null, with the reason)."""
    return _export(search, round, out, format, force, timing).path


def export_with_report(
    search: LotterySearch, round: int | None, out: str | Path, format: str | None = None, force: bool = False,
    timing: bool = True,
) -> tuple[Path, list[str]]:
    """`export_round`, then the lines its format reports (sizes against the dense model, or costs;
    the marker's cost and latency; with `timing`, a structured or sparse export's latency against
    the dense one timed beside it). The caller prints the format's warning itself
    (`format_warning`): nothing is logged here."""
    format = format or default_format(search)
    exported = _export(search, round, out, format, force, timing, warn=False)
    return exported.path, export_format(format).report(exported)


def channel_pruned(exp: Any) -> bool:
    """Whether the run's criterion removes whole channels (prune.structure = channels, refill)."""
    return criteria.get(exp.prune.structure).channels


def default_format(search: LotterySearch) -> str:
    """The format of an export that names none: `formats.default` for this run's criterion."""
    return formats.default(channel_pruned(search.exp))


def format_warning(exp: Any, format: str) -> str | None:
    """The format's one-line warning for this run's tickets (narrow on weight pruning), or None."""
    return export_format(format).warning(channel_pruned(exp))


def _export(search: LotterySearch, round: int | None, out: str | Path | None, format: str | None,
            force: bool, timing: bool = True, warn: bool = True) -> Exported:
    format = format or default_format(search)
    fmt = export_format(format)
    warning = format_warning(search.exp, format)
    if warn and warning:
        log.warning("%s", warning)
    if round is None:
        round = search.winner_round()
    path = Path(out) if out else rundir.ticket_dir(search.run_dir)
    source = export_source(search.run_dir, rundir.stored_hash(search.run_dir), round)
    check_target(path, source, force)  # before the model is loaded
    with search.platform.local():  # plain variables: one process exports, no collectives
        wrapped = search.model_for_round(round)
        model, pruned = fmt.model(wrapped, search)
    export_savedmodel(model, path, search.served_data, format=format, pruned=pruned, source=source, force=force,
                      timing=timing)
    return Exported(search, round, path, wrapped, model,
                    lambda dense: export_round(search, 0, dense, format=formats.DENSE, timing=False), timing)


class TicketExporter:
    """Writes the winning ticket into RUN_DIR/ticket/ when a search finishes, in the default
    format (dense, or narrow for a channel-pruned run); `timing=False`: without its latency."""

    def __init__(self, timing: bool = True) -> None:
        self.timing = timing

    def write(self, search: LotterySearch, round: int, path: Path) -> dict[str, Any]:
        path = export_round(search, round, path, timing=self.timing)
        return {"path": str(path), **sizes(path)}  # saved_model_bytes, gzip_bytes

    def existing(self, path: Path) -> dict[str, Any] | None:
        return sizes(path) if is_savedmodel(path) else None
