"""The `lth-tf` command line: `main` (the parser and the entry point) and one module per command."""
