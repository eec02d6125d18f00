"""The registries researchers extend: pruning criteria, rewind modes, controls, export formats.

Each is a plain dict with a `get(name)` raising ValueError; the config, the CLI
and the engine take their names from it (one fact), and none imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from lth_tf.core import config as C
from lth_tf.core import controls, criteria, rewind
from lth_tf.core import masks as M
from lth_tf.core.errors import LthError
from lth_tf.core.masks import channels as CH
from lth_tf.export import formats


def test_registries_import_no_tensorflow():
    # In a fresh interpreter: other test modules import TF into this one.
    code = (
        "import sys, lth_tf.core.criteria, lth_tf.core.rewind, lth_tf.core.controls, "
        "lth_tf.export.formats, lth_tf.core.config; "
        "print(sorted(m for m in ('tensorflow', 'tf_keras', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("registry", "first", "what"),
    [  # the names the contract and the CLI transcript fix, in their order
        (criteria, ("weights", "channels", "random"), "pruning criterion"),
        (controls, ("random_reinit", "random_mask"), "control"),
        (formats, ("dense", "sparse", "tflite", "narrow"), "export format"),
    ],
)
def test_each_registry_is_a_dict_of_named_objects_with_get(registry, first, what):
    table = {criteria: criteria.CRITERIA, controls: controls.CONTROLS, formats: formats.FORMATS}[registry]
    assert tuple(table) == registry.NAMES and registry.NAMES[: len(first)] == first
    for name, obj in table.items():
        assert obj.name == name and registry.get(name) is obj and obj.help
    with pytest.raises(ValueError, match=f"No such {what}: 'nope'; use one of {', '.join(registry.NAMES)}"):
        registry.get("nope")


def test_config_accepts_exactly_the_registered_names():
    assert C.STRUCTURES == criteria.NAMES
    assert C.CONTROL_KINDS == controls.NAMES
    for name in criteria.NAMES:
        C.validate(C.set_value(C.Experiment(), "prune.structure", name))
    C.validate(C.set_value(C.Experiment(), "prune.controls", ",".join(controls.NAMES)))
    structures = ", ".join(criteria.NAMES[:-1]) + " or " + criteria.NAMES[-1]
    with pytest.raises(LthError, match=f"prune.structure 'filters' is unknown; use {structures}$"):
        C.validate(C.set_value(C.Experiment(), "prune.structure", "filters"))
    with pytest.raises(LthError, match=f"prune.controls: 'lucky' is unknown; use {' and/or '.join(controls.NAMES)}$"):
        C.validate(C.set_value(C.Experiment(), "prune.controls", "lucky"))


def test_layer_rates_are_refused_only_with_a_channel_criterion():
    for name, crit in criteria.CRITERIA.items():
        exp = C.Experiment(prune=C.Prune(structure=name, layer_rates={"output": 0.1}))
        if crit.channels:
            per_weight = [n for n, c in criteria.CRITERIA.items() if not c.channels]
            with pytest.raises(LthError, match=f"works with prune.structure={' or '.join(per_weight[-2:])} only"):
                C.validate(exp)
        else:
            C.validate(exp)


def test_every_criterion_keeps_the_mask_format_and_nests():
    """Any criterion: float32 0/1 masks for every key, in the caller's order, never reviving a weight."""
    plan = CH.ChannelPlan({"a": CH.Producer("a", 4, (CH.Consumer("b"),))}, {})
    rng = np.random.default_rng(0)
    kernels = {"b": rng.normal(size=(4, 3)), "a": rng.normal(size=(5, 4))}
    masks = M.ones_like(kernels)
    for crit in criteria.CRITERIA.values():
        step = criteria.Step(channel_plan=plan if crit.channels else None, seed=3, round=1)
        for new in (crit.prune(kernels, masks, 0.5, step), crit.prune_to(kernels, masks, 0.5, step),
                    crit.random_masks(masks, np.random.default_rng(1), step)):  # fmt: skip
            assert list(new) == ["b", "a"]
            for k, m in new.items():
                assert m.dtype == np.float32 and m.shape == kernels[k].shape
                assert set(np.unique(m)) <= {0.0, 1.0} and (m <= masks[k]).all()
        again = crit.prune(kernels, crit.prune(kernels, masks, 0.5, step), 0.5, step)
        assert all((again[k] <= masks[k]).all() for k in kernels)


def test_weights_and_channels_criteria_are_the_mask_math_they_name():
    rng = np.random.default_rng(1)
    kernels = {"a": rng.normal(size=(6, 4)), "b": rng.normal(size=(4, 3))}
    masks = M.ones_like(kernels)
    step = criteria.Step(scope="layerwise", exclude=("b",), layer_rates={}, seed=5, round=2)
    weights = criteria.get("weights")
    assert _equal(weights.prune(kernels, masks, 0.3, step), M.prune(kernels, masks, 0.3, "layerwise", None, ("b",)))
    assert _equal(weights.prune_to(kernels, masks, 0.3, step), M.prune_to_sparsity(kernels, masks, 0.3, "layerwise", None, ("b",)))
    assert _equal(weights.random_masks(masks, np.random.default_rng(9), step),
                  M.random_masks(masks, np.random.default_rng(9), exclude=("b",)))  # fmt: skip
    plan = CH.ChannelPlan({"a": CH.Producer("a", 4, (CH.Consumer("b"),))}, {})
    chan, cstep = criteria.get("channels"), dataclasses.replace(step, exclude=(), channel_plan=plan)
    assert _equal(chan.prune(kernels, masks, 0.5, cstep), CH.prune(kernels, masks, plan, 0.5, "layerwise"))
    assert _equal(chan.prune_to(kernels, masks, 0.5, cstep), CH.prune_to_fraction(kernels, masks, plan, 0.5, "layerwise"))
    assert _equal(chan.random_masks(masks, np.random.default_rng(9), cstep),
                  CH.random_masks(masks, plan, np.random.default_rng(9)))  # fmt: skip
    with pytest.raises(ValueError, match="ChannelPlan"):
        chan.prune(kernels, masks, 0.5, step)


def _equal(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


# -- rewind modes (the grammar's own tests are in test_rewind.py) -----------------------------


def test_rewind_modes_say_where_rounds_start_and_their_learning_rate():
    train = C.Train(learning_rate=0.1)
    table = {t: rewind.parse(t) for t in ("init", "step:7", "lr", "finetune")}
    assert {t: m.snapshot_step for t, m in table.items()} == {"init": 0, "step:7": 7, "lr": None, "finetune": None}
    assert {t: m.constant_lr(train) for t, m in table.items()} == {
        "init": None, "step:7": None, "lr": None, "finetune": pytest.approx(0.01)}  # fmt: skip
    assert set(rewind.MODES) == {"init", "step", "lr", "finetune"}


# -- controls ----------------------------------------------------------------------------------


def test_controls_keep_the_engines_seed_offsets():
    """The offsets the engine used before the registry: results stay bit-identical."""
    assert controls.get("random_reinit") == controls.Control(
        "random_reinit", controls.get("random_reinit").help, controls.REINIT, controls.ROUND_MASK, 7_919)
    assert controls.get("random_mask") == controls.Control(
        "random_mask", controls.get("random_mask").help, controls.ROUND_START, controls.RANDOM_MASK, 104_729)
    with pytest.raises(ValueError, match="weights 'zeros'"):
        controls.Control("x", "y", "zeros", controls.ROUND_MASK, 1)


# -- export formats ----------------------------------------------------------------------------


def test_export_help_and_choices_come_from_the_registry():
    from lth_tf.frontends.cli import main as cli

    assert formats.help_text() == (
        "dense: Keras SavedModel; sparse: pruned kernels stored without their zeros "
        "(tf.saved_model.load only); tflite: a TFLite model with sparse weights (image models; "
        "smaller file; on x86 the same speed: XNNPACK computes it dense); "
        "narrow: a channel-pruned ticket as a physically narrower model (fewer filters/units), "
        "the default for channel-pruned tickets (prune.structure=channels, refill); "
        "keras: the ticket as your own Keras 3 model, a .keras file (Keras 3 models only)"
    )
    parser = cli.build_parser()
    for name in formats.NAMES:
        assert parser.parse_args(["export", "RUN", "--out", "x", "--format", name]).format == name
    assert [f.name for f in formats.FORMATS.values() if f.graph_refusal] == ["tflite"]


def test_an_unknown_format_is_one_lth_error():
    from lth_tf.export import export_format

    with pytest.raises(LthError, match="export format 'onnx' is unknown; use one of dense, sparse, tflite, narrow"):
        export_format("onnx")
