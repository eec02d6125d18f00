"""The platform layer: TensorFlow and Keras 2 for this process, and where it runs.

`backend` is the one module that imports TensorFlow and tf_keras (after arranging
Keras 2 for tfmot); `onednn` chooses oneDNN before TensorFlow loads; `placement`
reads where this process sits in a run (pure); `platform` is the `Platform` a
front end makes once and passes down (`distribute` makes its strategy,
`collectives` moves arrays between workers, `runtime` reports and sets the speed
settings). Imports only the core.
"""
