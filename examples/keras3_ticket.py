"""A winning ticket in a Keras 3 model, given back as a Keras 3 model.

    python examples/keras3_ticket.py [--data-dir DIR] [--out checkpoints]

`keras.applications.MobileNetV2` (alpha 0.35, 32x32 inputs, 10 classes, no
pretrained weights), built with today's Keras (Keras 3), on a CIFAR-10 subset:
iterative magnitude pruning with rewinding to init through `lth_tf.TicketSearch`,
a random-reinit control at every pruned round, then the ticket as your own Keras 3
model, saved as `.keras`, loaded again, and checked to predict the same.

Inside, lth_tf trains the tf_keras (Keras 2) translation of the model, because
tfmot's pruning wrappers only take tf_keras; you never touch it.

Data: with `--data-dir` (or LTH_DATA_DIR) naming a folder that holds
`cifar10-jpeg.tar.gz` (CIFAR-10 as JPEG files), the example decodes it into the
uint8 arrays `keras.datasets.cifar10.load_data()` would give; without
one, `keras.datasets.cifar10.load_data()` downloads them. The images are scaled to
[-1, 1] here, as MobileNetV2 expects. CPU scale: 5,000 training images, a few
epochs per round, so accuracies are far below a full training; dense, ticket and
random reinit at the same budget are the comparison. Minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import keras  # Keras 3
import numpy as np

import lth_tf


def cifar10(data_dir: str | None):
    """((x_train, y_train), (x_test, y_test)) as uint8 images and int labels."""
    if data_dir:
        return cifar10_from_jpegs(Path(data_dir) / "cifar10-jpeg.tar.gz")
    return keras.datasets.cifar10.load_data()


def cifar10_from_jpegs(archive: Path):
    """The offline archive (`train|test/<class>/<name>.jpg`) as load_data()'s arrays.

    Classes in alphabetical order, which is CIFAR-10's label order; images sorted
    by class and file name within each split.
    """
    import tarfile

    import tensorflow as tf

    images: dict[str, list] = {"train": [], "test": []}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            parts = member.name.strip("./").split("/")
            if member.isfile() and len(parts) == 3 and parts[0] in images and parts[2].endswith(".jpg"):
                images[parts[0]].append((parts[1], parts[2], tar.extractfile(member).read()))
    classes = sorted({cls for split in images.values() for cls, _, _ in split})
    arrays = []
    for split in ("train", "test"):
        found = sorted(images[split], key=lambda item: (item[0], item[1]))
        x = np.stack([tf.io.decode_jpeg(data, dct_method="INTEGER_ACCURATE").numpy() for _, _, data in found])
        y = np.array([[classes.index(cls)] for cls, _, _ in found], dtype="int64")
        arrays.append((x, y))
    return tuple(arrays)


def scale(x: np.ndarray) -> np.ndarray:
    """uint8 images to MobileNetV2's [-1, 1]."""
    return x.astype("float32") / 127.5 - 1.0


def mobilenetv2() -> keras.Model:
    model = keras.applications.MobileNetV2(alpha=0.35, weights=None, input_shape=(32, 32, 3), classes=10)
    # Its BatchNorm momentum (0.999) needs thousands of steps before the moving statistics
    # fit; after a few hundred, inference scores chance. A short run uses 0.9.
    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "BatchNormalization":
            layer["config"]["momentum"] = 0.9
    return keras.Model.from_config(config)


def run(args: argparse.Namespace) -> dict:
    """The search, the ticket and its reload; returns the numbers the example prints."""
    (x_train, y_train), (x_test, y_test) = cifar10(args.data_dir)
    y_train, y_test = y_train.reshape(-1), y_test.reshape(-1)
    order = np.random.default_rng(0).permutation(len(x_train))
    train, val = order[: args.train_images], order[args.train_images : args.train_images + args.val_images]

    keras.utils.set_random_seed(0)
    model = mobilenetv2()
    model.compile(optimizer=keras.optimizers.Adam(2e-3))  # lth_tf takes the optimizer and its rate
    search = lth_tf.TicketSearch(
        model,
        directory=args.out,
        name="keras3-mobilenetv2",
        rounds=args.rounds,
        rate=args.rate,
        epochs=args.epochs,
        batch_size=128,
        controls=["random_reinit"],
        settings={"prune.control_rounds": "all", "train.schedule": "cosine"},
    )
    start = time.time()
    summary = search.fit(
        (scale(x_train[train]), y_train[train]),
        validation_data=(scale(x_train[val]), y_train[val]),
        test_data=(scale(x_test), y_test),
        export=False,
    )
    controls = {c["round"]: c["test_acc"] for c in summary["controls"]}
    rounds = [
        {
            "round": r["round"],
            "sparsity": r["sparsity"],
            "test_acc": r["test_acc"],
            "random_reinit_test_acc": controls.get(r["round"]),
            "seconds": r["seconds"],
        }
        for r in summary["rounds"]
    ]
    for r in rounds:
        control = r["random_reinit_test_acc"]
        control = "" if control is None else f"   random reinit {control:.3f}"
        print(f"round {r['round']}: sparsity {r['sparsity']:6.1%}   test {r['test_acc']:.3f}{control}", flush=True)

    # The last round's ticket, as the Keras 3 model you built (softmax head included).
    last = rounds[-1]["round"]
    ticket = search.ticket_model(round=last)
    path = Path(args.out) / "keras3_mobilenetv2_ticket.keras"
    ticket.save(path)
    reloaded = keras.saving.load_model(path)
    x = scale(x_test[:512])
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), ticket.predict(x, verbose=0))
    # The kernels lth_tf prunes here: Conv2D and Dense (tfmot leaves DepthwiseConv2D and
    # BatchNormalization dense); their share of exact zeros is the round's sparsity.
    kernels = [
        layer.kernel.numpy() for layer in ticket.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
    ]
    zeros = sum(int(np.sum(k == 0)) for k in kernels) / sum(k.size for k in kernels)
    test_acc = float(np.mean(np.argmax(reloaded.predict(scale(x_test), verbose=0), axis=-1) == y_test))
    print(f"ticket saved as {path} ({type(ticket).__module__.split('.')[0]} {keras.__version__}), reloaded: "
          f"same predictions; its Conv2D/Dense kernels are {zeros:.1%} zeros; Keras 3 test accuracy {test_acc:.3f}")
    print("run directory:", search.run_dir, "(lth-tf report / export --format keras / lth-tui --attach work on it)")
    return {
        "rounds": rounds,
        "ticket_file": str(path),
        "ticket_round": last,
        "ticket_kernel_zeros": zeros,
        "ticket_test_acc_keras3": test_acc,
        "search_seconds": time.time() - start,
        "run_dir": str(search.run_dir),
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("LTH_DATA_DIR"), help="folder with cifar10-jpeg.tar.gz")
    p.add_argument("--out", default="checkpoints")
    p.add_argument("--train-images", type=int, default=5000)
    p.add_argument("--val-images", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--rate", type=float, default=0.5)
    return p


if __name__ == "__main__":
    run(parser().parse_args())
