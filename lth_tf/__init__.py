"""lth-tf: lottery-ticket research on TensorFlow/Keras.

Importing the package does not import TensorFlow; modules that need it import
`lth_tf._keras`, which arranges Keras 2 for tfmot first.
"""

from lth_tf.errors import LthError

__version__ = "0.1.0"
__all__ = ["LthError", "__version__"]
