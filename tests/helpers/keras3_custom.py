"""Registered Keras 3 custom layers for the Keras 3 zoo.

A fresh process loading a saved ticket imports this module with lth_tf out of
reach (it then imports Keras 3 alone) so `keras.saving.load_model` finds the classes.
"""

from __future__ import annotations

try:
    from lth_tf.platform.backend import keras3

    keras = keras3()  # in lth_tf's tests: after lth_tf set TF_USE_LEGACY_KERAS
except ImportError:  # a fresh process without lth_tf, or another Keras backend
    import keras


@keras.saving.register_keras_serializable(package="lth_zoo")
class Scale(keras.layers.Layer):
    """y = x * w + b per feature: a plain Layer subclass written with keras.ops."""

    def __init__(self, init: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1],), initializer=keras.initializers.Constant(self.init), name="w"
        )
        self.b = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="b")

    def call(self, x):
        return keras.ops.add(keras.ops.multiply(x, self.w), self.b)

    def get_config(self):
        return {**super().get_config(), "init": self.init}


@keras.saving.register_keras_serializable(package="lth_zoo")
class ScaledDense(keras.layers.Dense):
    """A Dense subclass: Dense's output times a constant factor."""

    def __init__(self, units: int, factor: float = 2.0, **kwargs):
        super().__init__(units, **kwargs)
        self.factor = factor

    def call(self, x):
        return super().call(x) * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="lth_zoo")
class Gate(keras.layers.Layer):
    """x * sigmoid(g) with a learned g: the test registers a tf_keras twin for it."""

    def build(self, input_shape):
        self.g = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="g")

    def call(self, x):
        return x * keras.ops.sigmoid(self.g)


class Unregistered(keras.layers.Layer):
    """Not registered: its ticket could not be loaded again, so translation refuses it."""

    def call(self, x):
        return x
