"""The platform layer: TensorFlow and Keras 2 for this process, and where it runs.

`backend` is the one module that imports TensorFlow and tf_keras (after arranging
Keras 2 for tfmot); `onednn` chooses oneDNN before TensorFlow loads; `distribute`
makes the run's strategy, `collectives` moves arrays between workers, `runtime`
reports and sets the speed settings. Imports only the core.
"""
