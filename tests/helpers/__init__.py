"""Helpers shared by the tests; conftest.py holds the shared fixtures.

- `channels`: random chains of channel producers and the form of a channel mask
  (numpy); random BatchNorm statistics and biases, and loading narrowed exports in
  a fresh process that cannot import lth_tf.
- `cli`: `lth-tf` in a subprocess (exit code, stdout, stderr, whether TensorFlow
  loaded), the user-error contract, and `tree` (what was or was not written).
- `data`: the offline Planetoid files, read-only proofs, tiny image sources.
- `fuzz`: mutations of a file's bytes, the check every reader must pass, the tally.
- `keras3_custom`: registered Keras 3 custom layers (importable without lth_tf).
- `keras3_zoo`: the Keras 3 model zoo, seeded inputs and masks, and loading a saved Keras 3
  ticket in a fresh process that cannot import lth_tf or tf_keras.
- `lottery`: the probe of where each training began, the IMP invariants of a
  finished search, and the early-bird rule written out.
- `models`: small registry models with random data, a user's own small models.
- `resume`: crash-and-resume runs of the CLI compared with an uninterrupted twin.
- `tui`: a recorded run to replay, waiting on a pilot, a fake search and fake exports.

A test module imports helpers from here, never from another test module.
"""
