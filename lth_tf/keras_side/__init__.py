"""The Keras side: models, data, the tfmot wrappers, training of one round.

`models` and `data` (registries of built-in models and data sets, plus the
user's own), `pruning` (tfmot wrappers, masks held in variables, rewinding and
early-bird callbacks, the channel graph), `training` (one round's fit,
distillation, feeds, metrics), `flops` (FLOP counting) and `narrow` (a
channel-pruned model made physically narrower). Imports the core and the platform.
"""
