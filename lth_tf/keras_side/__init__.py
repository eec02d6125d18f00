"""The Keras side: models, data, the tfmot wrappers, training of one round.

`models` and `data` (registries of built-in models and data sets, plus the
user's own), `pruning` (tfmot wrappers, masks held in variables, rewinding and
early-bird callbacks, the channel graph), `training` (one round's fit,
distillation, feeds, metrics), `flops` (FLOP counting), `narrow` (a
channel-pruned model made physically narrower) and `keras3` (a user's Keras 3
model translated to tf_keras and its ticket given back). Imports the core and the platform.
"""
