"""Compare settings across seeds: aggregation (pure) and the Markdown/PNG report."""
