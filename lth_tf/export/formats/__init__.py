"""Export formats: how a round's ticket is written (`lth-tf export --format`, `TicketSearch.export(format=)`).

A registry as in open_lth: `FORMATS` maps each format name to its object
(lth_tf/export/formats/base.py: `help`, `graph_refusal`, `refusal`, `out_refusal`,
`default_for_channels`, `warning`, `model`, `writer`, `report`); `get(name)` looks one
up, `default(channels)` names the format used when none is given (narrow for
channel-pruned tickets, else dense). No TensorFlow at import: the CLI builds --format's
choices and help from here before TF loads.

A new format is one module here (an `ExportFormat` subclass and its instance)
plus one line below; CONTRIBUTING.md says what to test.
"""

from lth_tf.export.formats import dense, keras, narrow, sparse, tflite
from lth_tf.export.formats.base import Exported, ExportFormat

FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        dense.FORMAT,
        sparse.FORMAT,
        tflite.FORMAT,
        narrow.FORMAT,
        keras.FORMAT,
    )
}
NAMES = tuple(FORMATS)


def get(name: str) -> ExportFormat:
    """The format `name`; ValueError for an unknown name."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"No such export format: {name!r}; use one of {', '.join(NAMES)}") from None


DENSE = "dense"  # the format written when none is named (weight-pruned tickets)


def default(channels: bool) -> str:
    """The format a ticket is written in when none is named: the one marked
    `default_for_channels` (narrow) when the run's criterion removes whole channels, else dense."""
    if channels:
        for f in FORMATS.values():
            if f.default_for_channels:
                return f.name
    return DENSE


def help_text() -> str:
    """--format's help: each format's name and help, in registry order."""
    return "; ".join(f"{f.name}: {f.help}" for f in FORMATS.values())


__all__ = ["DENSE", "FORMATS", "NAMES", "ExportFormat", "Exported", "default", "get", "help_text"]
