"""Keras 3 models in, Keras 3 tickets out: translation to and from tf_keras.

tfmot prunes only Keras 2 (`tf_keras`), so a user's Keras 3 model is translated
into the equivalent tf_keras model, searched as any other, and the ticket's
weights are given back in the user's own Keras 3 architecture.

- `detect`: what a user handed us, by type (`kind`, `is_keras3`); which Keras
  wrote a saved file is `lth_tf.core.sources.saved_by_keras3` (no TensorFlow).
- `translate`: `translate(model3) -> Translation(model, notes, difference)`,
  `to_tf_keras(model3)`; the rules are in `configs` (configs), `activations`,
  `twins` (custom layers) and `weights` (layer-by-layer copies); `check` compares
  outputs and names the first layer that differs.
- `back`: `to_keras3(model2, like=model3)`.

Keras 3 is imported only when a Keras 3 object or file is at hand
(`lth_tf.platform.backend.keras3`).
"""
