"""MACs of tiny models against hand counts, and the cost records' arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from lth_tf.core import cost
from lth_tf.keras_side import flops
from lth_tf.platform.backend import keras


def dense_model():
    keras.utils.set_random_seed(0)
    inp = keras.Input((5,))
    h = keras.layers.Dense(3, name="h")(inp)
    return keras.Model(inp, keras.layers.Dense(2, name="output")(h))


def conv_model():
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3, name="c1")(inp)  # valid: 4x4 output
    x = keras.layers.Conv2D(4, 1, strides=2, name="c2")(x)  # 2x2 output
    x = keras.layers.BatchNormalization(name="bn")(x)  # no MACs counted
    x = keras.layers.Flatten()(x)
    return keras.Model(inp, keras.layers.Dense(5, name="output")(x))


def test_dense_model_macs_by_hand():
    model = dense_model()
    # h: 5x3 kernel once per example; output: 3x2
    assert [(r.name, r.weights, r.positions) for r in flops.layer_macs(model)] == [
        ("h", 15, 1),
        ("output", 6, 1),
    ]
    total = flops.model_macs(model)
    assert total.dense == total.nonzero == 15 + 6
    assert total.params == 15 + 3 + 6 + 2  # kernels and biases
    # zero 4 entries of h's kernel: 4 MACs fewer
    k, b = model.get_layer("h").get_weights()
    k.flat[:4] = 0.0
    model.get_layer("h").set_weights([k, b])
    total = flops.model_macs(model)
    assert (total.dense, total.nonzero) == (21, 17)
    # a mask removes what it masks, whatever the kernel holds
    mask = np.ones((3, 2), np.float32)
    mask[0] = 0.0
    assert flops.model_macs(model, masks={"output": mask}).nonzero == 17 - 2


def test_conv_model_macs_by_hand():
    rows = {r.name: r for r in flops.layer_macs(conv_model())}
    assert set(rows) == {"c1", "c2", "output"}
    assert (rows["c1"].weights, rows["c1"].positions) == (3 * 3 * 2 * 3, 4 * 4)
    assert (rows["c2"].weights, rows["c2"].positions) == (1 * 1 * 3 * 4, 2 * 2)
    assert (rows["output"].weights, rows["output"].positions) == (16 * 5, 1)
    hand = 54 * 16 + 12 * 4 + 80 * 1
    assert flops.model_macs(conv_model()).dense == hand == 992


def test_wrapped_model_counts_the_masked_kernels():
    from lth_tf.core import masks as M
    from lth_tf.keras_side import pruning as P

    wrapped = P.wrap(conv_model())
    kernels = P.get_kernels(wrapped)
    masks = M.prune(kernels, M.ones_like(kernels), 0.5, "layerwise")
    P.set_masks(wrapped, masks)
    rows = {r.name: r for r in flops.layer_macs(wrapped)}
    for name, m in masks.items():
        assert rows[name].nonzero == int(m.sum())
    expected = sum(int(masks[n].sum()) * rows[n].positions for n in masks)
    assert flops.model_macs(wrapped).nonzero == expected


def test_gcn_adds_the_adjacency_product_per_node():
    from lth_tf.core import config as C
    from lth_tf.keras_side import data as D
    from lth_tf.keras_side import models

    exp = C.resolve("smoke", overrides=["data.name=synthetic_graph", "model.name=gcn", "model.hidden=8"])
    data = D.load(exp.data)
    model = models.build(exp.model, data.input_shape, data.num_classes, 0)
    graph = flops.graph_size(data)
    assert graph == flops.GraphSize(nodes=data.a.shape[0], adjacency_nnz=data.a.nnz)
    rows = {r.name: r for r in flops.layer_macs(model, graph=graph)}
    features, n = data.input_shape[0], graph.nodes
    assert rows["gcn1"].dense_macs == pytest.approx(features * 8 + graph.adjacency_nnz * 8 / n)
    assert rows["output"].dense_macs == pytest.approx(8 * data.num_classes + graph.adjacency_nnz * data.num_classes / n)
    assert flops.graph_size(object()) is None


def test_train_flops_is_three_passes_of_two_flops_per_mac():
    assert flops.train_flops(21, 10) == 3 * 2 * 21 * 10


def test_cumulative_cost_is_the_running_sum():
    rounds = [
        {"cost": {"examples": 100, "steps": 4, "epochs": 2, "seconds": 1.5, "train_flops": 10.0}},
        {"cost": {"examples": 50, "steps": 2, "epochs": 1, "seconds": 0.5, "train_flops": 3.0}},
        {"cost": {"examples": 50, "steps": 2, "epochs": 1, "seconds": 0.25, "train_flops": 1.0}},
    ]
    totals = cost.cumulative(rounds)
    assert [t["examples"] for t in totals] == [100, 150, 200]
    assert [t["train_flops"] for t in totals] == [10.0, 13.0, 14.0]
    assert totals[-1]["seconds"] == 2.25
    # a round stored without a cost makes every later total unknown
    assert cost.cumulative([rounds[0], {}, rounds[1]]) == [totals[0], None, None]


def test_human_figures():
    assert cost.human(1.234e12, "FLOPs") == "1.23 TFLOPs"
    assert cost.human(950) == "950"
    assert cost.human(999.6e6) == "1 G"  # rounds up across a prefix: not "1e+03 M"
    assert cost.human(999.4) == "999"
    assert cost.human(None) == ""
