"""The parts of one round's training; `lth_tf.keras_side.training.train.train_round` puts them together.

- `optimizer.py`: a fresh optimizer and its learning-rate schedule per round.
- `feeds.py`: a data set's train/val/test inputs in the form `fit` takes.
- `metrics.py`: the loss and accuracy a model is compiled with, and `evaluate`.
- `callbacks.py`: best-epoch selection, epoch events, cooperative stop.
- `full_batch.py`: the training loop for one fixed batch (the GCN's whole graph).
"""
