"""When the run screen goes compact, and the panels it can show there."""

from __future__ import annotations

# The wide layout needs the rounds table (72 columns) beside the layer panel
# (~38), and 14 + 10 + 8 rows for the panels, log and status around them.
WIDE_MIN_COLUMNS = 110
TALL_MIN_ROWS = 34

# Compact layout: the rounds table, and under it one of these (`v` cycles).
VIEWS = ("chart", "layers", "curves", "log")


def is_compact(width: int, height: int) -> bool:
    return width < WIDE_MIN_COLUMNS or height < TALL_MIN_ROWS
