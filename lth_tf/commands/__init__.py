"""The `lth-tf` subcommands longer than a few lines, one module each (`run`, `export`);
`lth_tf/cli.py` builds the parser and dispatches. Sweep and compare live with
their packages (`lth_tf/sweep/command.py`, `lth_tf/compare/command.py`).
"""
