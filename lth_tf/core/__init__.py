"""The core, the lowest layer (docs/internals.md, "Layers"): pure Python and numpy, never TensorFlow.

The experiment's configuration and its hash (`config`), the pruning schedule
(`schedule`), the registries of pruning criteria (`criteria`), rewind modes
(`rewind`) and controls (`controls`), mask math (`masks`), event records
(`events`), user-source names (`sources`), compute accounting (`cost`), the
winner rule (`winner`) and the one exception type (`errors`). Everything above
imports from here; nothing here imports from above, so these modules test in
milliseconds.
"""
