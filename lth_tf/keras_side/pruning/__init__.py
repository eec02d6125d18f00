"""Pruning: mask math (`masks`, pure numpy) and the tfmot glue (`wrap`).

Deliberately empty of imports: `lth_tf.core.masks` must stay importable
without TensorFlow, and importing a submodule runs this file first.
"""
