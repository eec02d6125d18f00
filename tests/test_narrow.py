"""Channel pruning on real Keras models, and the physically narrower export.

Three tiny models (Conv-BN-ReLU-Conv-Dense, the GCN, ResNet-18 at width 2) get
random BatchNorm statistics and biases (so a removed channel carries a nonzero
constant until a zero input slice stops it), two rounds of channel pruning, and
are narrowed. A fresh process that never imports lth_tf loads each narrowed
SavedModel and must predict what the masked model predicts (atol 1e-5).
"""

from __future__ import annotations

import contextlib
import io
import json
import re

import numpy as np
import pytest
from helpers.channels import load_in_fresh_process, randomise
from helpers.models import tiny_conv

from lth_tf.core.config import Model
from lth_tf.core.errors import LthError
from lth_tf.frontends.cli import main as cli


def _graph_inputs(tf, rng, n=9, f=5):
    x = (rng.random((n, f)) < 0.5) * rng.random((n, f))
    a = np.maximum(rng.random((n, n)) < 0.3, np.eye(n))
    a = np.maximum(a, a.T) / a.sum(1, keepdims=True)

    def coo(m, p):
        idx = np.argwhere(m != 0).astype("int64")
        return {f"{p}_i": idx, f"{p}_v": m[m != 0].astype("float32"), f"{p}_s": np.array(m.shape, "int64")}

    return {**coo(x, "x"), **coo(a, "a")}


@pytest.fixture(scope="module")
def narrowed(tmp_path_factory):
    """Three models channel-pruned twice and narrowed, in-process."""
    from lth_tf.core.masks import channels as CH
    from lth_tf.keras_side import pruning as P
    from lth_tf.keras_side.models import gcn, resnet
    from lth_tf.keras_side.narrow import costs, narrow
    from lth_tf.platform.backend import keras, tf

    tmp = tmp_path_factory.mktemp("narrow")
    rng = np.random.default_rng(0)
    cases = {
        "conv": (tiny_conv(keras), {"image": rng.normal(size=(4, 6, 6, 3)).astype("float32")}),
        "gcn": (gcn.build_gcn(Model(name="gcn", hidden=6), (5,), 3, seed=0), _graph_inputs(tf, rng)),
        "resnet": (
            resnet.build_resnet18(Model(name="resnet18", width=2), (8, 8, 3), 3, seed=0),
            {"image": rng.normal(size=(4, 8, 8, 3)).astype("float32")},
        ),
    }
    result = {}
    for kind, (model, inputs) in cases.items():
        wrapped = P.wrap(model)
        randomise(keras, wrapped, rng)
        plan = P.channel_plan(wrapped)
        masks = P.get_masks(wrapped)
        for _ in range(2):
            masks = CH.prune(P.get_kernels(wrapped), masks, plan, 0.4, "layerwise")
        P.set_masks(wrapped, masks)
        if "image" in inputs:
            args = tf.constant(inputs["image"])
        else:
            args = [tf.SparseTensor(inputs[f"{p}_i"], inputs[f"{p}_v"], inputs[f"{p}_s"]) for p in ("x", "a")]
        small = narrow(wrapped)
        result[kind] = {
            "inputs": inputs, "plan": plan, "masks": masks,
            "reference": wrapped(args, training=False).numpy(), "narrow": small,
            "params": costs(small)["params"], "dense_params": costs(P.strip(wrapped))["params"],
        }
    return result, tmp


@pytest.fixture(scope="module")
def loaded(narrowed):
    """Each narrowed model exported, then loaded in one fresh process, no lth_tf on the path."""
    from lth_tf.export import export_savedmodel

    result, tmp = narrowed
    jobs = []
    for kind, r in result.items():
        np.savez(tmp / f"{kind}.npz", **r["inputs"])
        jobs.append([kind, str(export_savedmodel(r["narrow"], tmp / kind)), str(tmp / f"{kind}.npz")])
    return load_in_fresh_process(jobs, tmp)


@pytest.mark.slow  # a fresh TensorFlow process
@pytest.mark.parametrize("kind", ["conv", "gcn", "resnet"])
def test_narrow_export_loads_without_lth_tf_and_matches_the_masked_model(narrowed, loaded, kind):
    result, _ = narrowed
    loaded, leaked = loaded
    assert leaked == []
    ref = result[kind]["reference"]
    for how in ("sm", "keras"):
        np.testing.assert_allclose(loaded[f"{kind}:{how}"], ref, atol=1e-5, rtol=0, err_msg=how)
    assert int(loaded[f"{kind}:params"]) == result[kind]["params"] < result[kind]["dense_params"]


def test_narrow_layers_are_physically_narrower(narrowed):
    from lth_tf.core.masks import channels as CH

    result, _ = narrowed
    for kind, r in result.items():
        keep = CH.keep_vectors(r["masks"], r["plan"].producers)
        layers = {layer.name: layer for layer in r["narrow"].layers}
        for name, k in keep.items():
            assert layers[name].weights[0].shape[-1] == int(k.sum()) < k.size, (kind, name)


def test_resnet_prunes_only_the_first_conv_of_each_block(narrowed):
    result, _ = narrowed
    plan = result["resnet"]["plan"]
    firsts = {f"stage{s}_block{b}_conv1" for s in range(1, 5) for b in (1, 2)}
    assert set(plan.producers) == firsts
    for name in firsts:  # the dead input slices of the second conv go too
        assert [c.name for c in plan.producers[name].consumers] == [name.replace("conv1", "conv2")]
    assert "Add" in plan.blocked["stage1_block1_conv2"]
    assert "Add" in plan.blocked["stem_conv"] and "Add" in plan.blocked["stage2_block1_shortcut_conv"]
    assert plan.blocked["output"] == "model output"


def test_narrow_parameter_and_mac_counts_equal_a_hand_count():
    """Keep conv1 3/4, conv2 3/5, dense 3/6 channels of tiny_conv (6x6x3 input)."""
    from lth_tf.core import masks as M
    from lth_tf.core.masks import channels as CH
    from lth_tf.keras_side import pruning as P
    from lth_tf.keras_side.narrow import costs, narrow
    from lth_tf.platform.backend import keras

    wrapped = P.wrap(tiny_conv(keras))
    plan = P.channel_plan(wrapped)
    keep = {
        "conv1": np.array([1, 0, 1, 1], bool),
        "conv2": np.array([0, 1, 1, 0, 1], bool),
        "dense": np.array([1, 1, 0, 0, 1, 0], bool),
    }
    P.set_masks(wrapped, CH.masks_from_keep(M.ones_like(P.get_kernels(wrapped)), plan, keep))
    hand = (
        (3 * 3 * 3 * 3 + 3)  # conv1: 3x3 kernel, 3 input channels, 3 filters, bias
        + 4 * 3  # bn1: gamma, beta, moving mean, moving variance per channel
        + (3 * 3 * 3 * 3 + 3)  # conv2: 3x3, 3 in, 3 out, bias
        + (3 * 3 * 3 * 3 + 3)  # dense: flatten of 3x3 pooled x 3 channels -> 3 units, bias
        + (3 * 3 + 3)  # output: 3 -> 3 classes, bias
    )
    dense_hand = (3 * 3 * 3 * 4 + 4) + 4 * 4 + (3 * 3 * 4 * 5 + 5) + (3 * 3 * 5 * 6 + 6) + (6 * 3 + 3)
    # MACs per image: kernel entries x positions (6x6 "same" convs: 36; Dense: 1)
    macs = 3 * 3 * 3 * 3 * 36 + 3 * 3 * 3 * 3 * 36 + 27 * 3 + 3 * 3
    dense_macs = 3 * 3 * 3 * 4 * 36 + 3 * 3 * 4 * 5 * 36 + 45 * 6 + 6 * 3
    assert costs(narrow(wrapped)) == {"params": hand, "macs": macs}
    assert costs(P.strip(wrapped)) == {"params": dense_hand, "macs": dense_macs}


def test_a_model_without_prunable_channels_is_refused():
    from lth_tf.core import config as C
    from lth_tf.platform.backend import keras
    from lth_tf.search import preflight

    x = keras.Input((4,))
    h = keras.layers.Dense(4, name="h")(x)
    model = keras.Model(x, keras.layers.Add(name="add")([h, x]))
    exp = C.Experiment(prune=C.Prune(structure="channels"))
    with pytest.raises(LthError, match="use prune.structure=weights") as err:
        preflight.check_channels(exp, model)
    assert "\n" not in str(err.value) and "h: " in str(err.value)


@pytest.mark.slow  # a search through the CLI, then an export
def test_cli_channels_run_follows_the_schedule_and_exports_narrow(tmp_path):
    """smoke (tiny_cnn width 8: conv1 and conv2 prunable, 16 channels), 2 rounds at 0.5."""
    from lth_tf.core import masks as M
    from lth_tf.storage import rundir, store

    args = ["run", "--preset", "smoke", "--set", "train.epochs=1", "--set", "prune.structure=channels",
            "--set", "prune.controls=random_mask", "--set", "prune.tolerance=1.0",
            "--out", str(tmp_path / "runs"), "--quiet"]  # fmt: skip
    assert cli.main(args) == 0
    (run_dir,) = list((tmp_path / "runs").iterdir())
    rs = store.RunStore(run_dir)
    alive = 16
    for r in (1, 2):
        alive -= M.prune_count(0.5, alive)
        assert rs.round_metrics(r)["channel_sparsity"] == pytest.approx(1 - alive / 16)
    events = [json.loads(line) for line in rundir.events_path(run_dir).read_text().splitlines()]
    started = next(e for e in events if e["event"] == "run_started")
    assert {u["name"] for u in started["unpruned_channels"]} == {"output"}
    ctrl = rs.control_metrics("random_mask", 2)
    assert ctrl["sparsity"] == pytest.approx(rs.round_metrics(2)["sparsity"])

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["export", str(run_dir), "--round", "2", "--format", "narrow",
                         "--out", str(tmp_path / "narrow")])  # fmt: skip
    assert code == 0, err.getvalue()
    assert out.getvalue().strip() == str(tmp_path / "narrow")
    printed = err.getvalue()
    kept = re.search(r"channels kept: conv1 (\d)/8, conv2 (\d)/8", printed)
    assert "narrow:" in printed and kept and int(kept[1]) + int(kept[2]) == alive, printed
    # the round's recorded inference size is the narrowed model's (as served), round 0's the dense one
    sizes = "\n".join(line for line in printed.splitlines() if line.startswith(("dense:", "narrow:")))  # not cost:
    figures = {k: [int(v.replace(",", "")) for v in re.findall(rf"([\d,]+) {k}", sizes)] for k in ("params", "macs")}
    size, dense = rs.round_metrics(2)["inference"], rs.round_metrics(0)["inference"]
    assert [dense["params"], size["params"]] == figures["params"], printed
    assert size["flops"] == 2 * figures["macs"][1] and dense["flops"] == 2 * figures["macs"][0]
    assert size["nonzeros"] <= size["params"] < dense["params"]
    # narrow is the default format of a channel-pruned ticket: the run's own ticket/ and `export`
    from lth_tf.export import description

    assert description(run_dir / "ticket")["source"]["export_format"] == "narrow"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["export", str(run_dir), "--round", "2", "--out", str(tmp_path / "default")])
    assert code == 0, err.getvalue()
    assert "narrow format" in err.getvalue().splitlines()[0] and "warning" not in err.getvalue()
    assert f"{size['params']:,} params" in err.getvalue()


def test_cli_refuses_a_bad_structure_without_writing(tmp_path, capsys):
    code = cli.main(["run", "--preset", "smoke", "--set", "prune.structure=filters",
                     "--out", str(tmp_path / "runs"), "--quiet"])  # fmt: skip
    assert code == 2
    assert "prune.structure 'filters' is unknown" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
