"""The front ends, the top layer: the `lth-tf` CLI, the Python API, sweeps, compare, reports.

`cli` (the `lth-tf` commands), `api` (`TicketSearch`), `sweep` (grids of runs,
locally or on Ray), `compare` (settings over seeds), `report` (report.md and its
plot). The TUI (the top-level `tui` package) sits beside them. They import every
layer below; nothing below imports them.
"""
