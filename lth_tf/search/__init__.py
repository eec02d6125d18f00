"""The search layer: the plan of a run, the round engine, the lottery loop.

`plan` (the settings one search trains by), `prune_step` (the masks a round
takes), `engine` (one round or one control, given a model factory, data, a
store and a sink), `lottery` (`LotterySearch`: a configured experiment's rounds,
controls and winner), `dense_from`/`dense_copy` (round 0 taken from another
run), `preflight` (checks that need the model, before anything is written).
Imports the core, platform, storage and Keras side; never export or the front ends.
"""
