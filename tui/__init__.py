"""lth-tui: watch a lottery-ticket run unfold and step through it round by round.

The TUI imports lth_tf; lth_tf never imports the TUI. TensorFlow is imported
only inside the training worker thread, so the interface starts instantly.
"""
