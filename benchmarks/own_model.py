"""A model the registry does not have, through the Python API: MobileNetV2 on CIFAR-10.

`keras.applications.MobileNetV2(alpha=0.35, weights=None, input_shape=(32, 32, 3),
classes=10)` (its softmax head is turned into logits by lth-tf), IMP with 20%
global pruning per round and rewinding to init, a random-reinit control at
rounds 2 and 4. CPU scale: a subset of the training images and a few epochs per round,
so absolute accuracies are far below a full training; the comparison between
dense, ticket and random reinit at equal budget is the point. Resumable.

    python benchmarks/own_model.py            # 10,000 images, 6 epochs, 4 rounds
    python benchmarks/own_model.py --quick    # 2,000 images, 1 epoch, 2 rounds
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RUNS, write_result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    subset, epochs, rounds = (2000, 1, 2) if args.quick else (10000, 6, 4)

    import lth_tf
    from lth_tf.core import config as C
    from lth_tf.keras_side import data as datasets
    from lth_tf.platform.backend import keras

    data = datasets.load(C.Data(name="cifar10", train_subset=subset), args.data_dir, seed=0)
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(
        alpha=0.35, weights=None, input_shape=(32, 32, 3), classes=10
    )
    # keras.applications' BatchNorm momentum (0.999) needs thousands of steps before its
    # moving statistics fit: after a few hundred, eval mode scores chance (10%, seen here).
    # A CPU-scale run uses 0.9, as a researcher would; the weights are rebuilt alike.
    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "BatchNormalization":
            layer["config"]["momentum"] = 0.9
    model = keras.Model.from_config(config)
    search = lth_tf.TicketSearch(
        model,
        directory=RUNS / ("own_model_quick" if args.quick else "own_model"),
        name="mobilenetv2-cifar10",
        rounds=rounds,
        rate=0.2,
        epochs=epochs,
        batch_size=128,
        optimizer="adam",
        learning_rate=2e-3,
        controls=["random_reinit"],
        settings={"prune.control_rounds": "2,4" if not args.quick else "all",
                  "train.schedule": "cosine"},
    )
    t0 = time.time()
    summary = search.fit(data, export=False)
    controls = {c["round"]: c["test_acc"] for c in summary["controls"]}
    table = [
        {
            "round": r["round"],
            "sparsity": r["sparsity"],
            "test_acc": r["test_acc"],
            "random_reinit_test_acc": controls.get(r["round"]),
            "minutes": r["seconds"] / 60,
        }
        for r in summary["rounds"]
    ]
    for row in table:
        print(row, flush=True)
    dense, last = table[0], table[-1]
    pruned = search.search.engine.model_for_round(0)
    from lth_tf.keras_side import pruning as P

    headline = {
        "model": "keras.applications.MobileNetV2(alpha=0.35, weights=None, 32x32x3, 10 classes)",
        "prunable_layers": len(P.prunable_layer_names(pruned)),
        "dense_test": dense["test_acc"],
        "final_sparsity": last["sparsity"],
        "ticket_test": last["test_acc"],
        "random_reinit_test": last["random_reinit_test_acc"],
        "train_images": subset,
        "epochs_per_round": epochs,
    }
    path = write_result("own_model", headline, {"rounds": table}, args.quick, time.time() - t0)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
