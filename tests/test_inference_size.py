"""Per-round inference size (params, nonzeros, FLOPs per example): the one definition
(`flops.inference_size`), the ticket as served (`narrow.ticket_size`), and what
summary.json, the report and the TUI rounds table show of it. Hand counts on tiny models.
"""

from __future__ import annotations

import numpy as np
from helpers.models import tiny_conv

from lth_tf.core import masks as M
from lth_tf.frontends.report import rounds_table, summary_problem
from lth_tf.keras_side import flops
from lth_tf.keras_side import pruning as P
from lth_tf.platform.backend import keras
from lth_tf.storage.summary import build_summary


def dense_model():
    inp = keras.Input((5,))
    h = keras.layers.Dense(3, name="h")(inp)
    return keras.Model(inp, keras.layers.Dense(2, name="output")(h))


def test_plain_model_size_by_hand():
    model = dense_model()
    k, b = model.get_layer("h").get_weights()
    k.flat[:4] = 0.0
    model.get_layer("h").set_weights([k, b + 1.0])  # biases nonzero: they count as nonzeros
    size = flops.inference_size(model)
    assert size["params"] == 5 * 3 + 3 + 3 * 2 + 2 == model.count_params()
    zero_biases = int(np.sum(model.get_layer("output").get_weights()[1] == 0))  # zeros at init
    assert size["nonzeros"] == 26 - 4 - zero_biases
    assert size["flops"] == 2 * (15 - 4 + 6)  # FLOPS_PER_MAC x nonzero kernel entries


def test_wrapped_model_counts_kept_weights_and_not_the_wrapper_state():
    wrapped = P.wrap(dense_model())
    kernels = P.get_kernels(wrapped)
    masks = M.ones_like(kernels)
    masks["h"].flat[[0, 3, 7, 11, 14]] = 0.0  # 5 of 15
    masks["output"].flat[[1, 4]] = 0.0  # 2 of 6
    P.set_masks(wrapped, masks)
    P.apply_masks(wrapped)
    for layer in wrapped.layers:  # nonzero biases, so every kept weight is nonzero
        inner = getattr(layer, "layer", layer)
        if getattr(inner, "bias", None) is not None:
            inner.bias.assign(np.ones(inner.bias.shape, np.float32))
    size = flops.inference_size(wrapped)
    prunable = sum(m.size for m in masks.values())
    sparsity = M.sparsity(masks)
    others = 3 + 2  # biases
    assert size["params"] == P.strip(wrapped).count_params() == prunable + others
    assert size["nonzeros"] == round((1 - sparsity) * prunable) + others == 26 - 7
    assert size["flops"] == 2 * (15 - 5 + 6 - 2)


def test_channel_ticket_size_is_the_narrowed_models():
    from lth_tf.core.masks import channels as CH
    from lth_tf.keras_side import pruning as P
    from lth_tf.keras_side.narrow import narrow, ticket_size

    wrapped = P.wrap(tiny_conv(keras))
    plan = P.channel_plan(wrapped)
    keep = {"conv1": np.array([1, 0, 1, 1], bool), "conv2": np.array([0, 1, 1, 0, 1], bool),
            "dense": np.array([1, 1, 0, 0, 1, 0], bool)}
    P.set_masks(wrapped, CH.masks_from_keep(M.ones_like(P.get_kernels(wrapped)), plan, keep))
    # as test_narrow's hand count: conv1 3 filters + bias, bn1 4 vectors of 3, conv2 3->3, dense 27->3, output 3->3
    hand = (81 + 3) + 4 * 3 + (81 + 3) + (81 + 3) + (9 + 3)
    macs = 81 * 36 + 81 * 36 + 81 + 9
    size = ticket_size(wrapped, channels=True)
    assert size["params"] == hand == narrow(wrapped).count_params()
    assert size["flops"] == 2 * macs
    # the masked model stores every weight, but a channel mask also zeroes its readers'
    # input rows: the same nonzero MACs as the narrowed model
    masked = ticket_size(wrapped, channels=False)
    assert masked["params"] > hand and masked["flops"] == 2 * macs


SIZE = {"params": 23_063, "nonzeros": 18_455, "flops": 37_089.3}


def summary_with(size):
    rounds = [
        {"round": 0, "sparsity": 0.0, "val_acc": 0.8, "test_acc": 0.81, "layer_sparsity": {},
         "seconds": 1.0, "distill": None, "cost": None, "inference": {**SIZE, "nonzeros": SIZE["params"]}},
        {"round": 1, "sparsity": 0.2, "val_acc": 0.8, "test_acc": 0.8, "layer_sparsity": {},
         "seconds": 1.0, "distill": None, "cost": None, "channel_sparsity": 0.25, "inference": size},
    ]
    return build_summary("h", "cora-gcn", "finished", rounds, [], None)


def test_summary_and_report_show_each_rounds_size():
    summary = summary_with(SIZE)
    assert summary["rounds"][1]["inference"] == SIZE and summary["rounds"][1]["channel_sparsity"] == 0.25
    assert summary_problem(summary) is None
    lines = rounds_table(summary)
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    row = dict(zip(header, (c.strip() for c in lines[3].strip("|").split("|"))))
    assert (row["params"], row["nonzeros"], row["inference FLOPs"]) == ("23,063", "18,455", "37.1 k")
    assert len(header) == lines[1].count("|") - 1  # the separator has a cell per column
    # a round stored before sizes were recorded: blank cells, same column count
    old = summary_with(None)
    assert rounds_table(old)[3].count("|") == lines[3].count("|")
    assert summary_problem(summary_with({"params": "many"})) == "rounds[1] lacks a valid 'inference'"


def test_report_of_a_channel_run_says_the_sizes_are_the_narrowed_models(tmp_path):
    import json

    from lth_tf.frontends.report import write_report
    from lth_tf.storage import rundir

    run = tmp_path / "run"
    run.mkdir()
    rundir.summary_path(run).write_text(json.dumps(summary_with(SIZE)))
    text = write_report(run, plots=False)
    assert "narrowed model's" in text and "1: 25.00" in text
