"""Find a winning ticket in your own Keras model, from Python.

    python examples/find_ticket.py [--out checkpoints]

A small functional MLP on a synthetic 10-class problem (swap in your own model
and arrays). About a minute on 2 CPU cores. Afterwards the run directory works
with the CLI as well: `lth-tf report RUN_DIR`, `lth-tf export RUN_DIR --out DIR`,
`lth-tui --attach RUN_DIR`.
"""

import argparse

import numpy as np

from lth_tf import TicketSearch  # first: it loads TensorFlow set up for Keras 2

# A tf_keras (Keras 2) model, the Keras lth-tf trains inside; a Keras 3 model (`import keras`)
# works as well and its ticket comes back as Keras 3: examples/keras3_ticket.py.
import tf_keras as keras  # isort: skip


def make_data(n: int, seed: int):
    """Ten Gaussian clusters in 32 dimensions: learnable, but not trivially."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(10, 32))
    y = rng.integers(0, 10, n)
    x = centres[y] + rng.normal(scale=1.5, size=(n, 32))
    return x.astype("float32"), y


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="checkpoints")
    args = parser.parse_args()

    inputs = keras.Input((32,))
    h = keras.layers.Dense(128, activation="relu", name="hidden1")(inputs)
    h = keras.layers.Dense(128, activation="relu", name="hidden2")(h)
    model = keras.Model(inputs, keras.layers.Dense(10, name="logits")(h), name="mlp")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))  # lth-tf takes the optimizer and rate

    search = TicketSearch(
        model, rounds=4, rate=0.5, epochs=15, batch_size=64, controls=["random_reinit"],
        directory=args.out,
    )
    summary = search.fit(make_data(2000, 1), validation_data=make_data(500, 2), test_data=make_data(1000, 3))

    for r in summary["rounds"]:
        print(f"round {r['round']}: sparsity {r['sparsity']:.1%}  test {r['test_acc']:.3f}")
    for c in summary["controls"]:
        print(f"control {c['kind']} at round {c['round']}: test {c['test_acc']:.3f}")
    print("ticket:", summary["ticket"])
    print("run directory:", search.run_dir)


if __name__ == "__main__":
    main()
