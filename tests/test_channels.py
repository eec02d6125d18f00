"""Property tests for lth_tf/core/masks/channels.py (structured pruning; pure numpy, no TF)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from helpers.channels import assert_channel_masks, chains
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lth_tf.core import config as C
from lth_tf.core import masks as M
from lth_tf.core.errors import LthError
from lth_tf.core.masks import channels as CH
from lth_tf.core.schedule import expected_sparsity

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # max_examples: the Hypothesis profile (tests/conftest.py)


@FAST
@given(chains(), st.floats(0.05, 0.9), st.sampled_from(M.SCOPES), st.integers(1, 4))
def test_channel_masks_remove_whole_channels_only(case, rate, scope, rounds):
    plan, weights, masks = case
    for _ in range(rounds):
        new = CH.prune(weights, masks, plan, rate, scope)
        assert_channel_masks(new, plan)
        for name in masks:  # nested: a removed weight stays removed
            assert not np.any((new[name] != 0) & (masks[name] == 0)), name
        for k in CH.keep_vectors(new, plan.producers).values():
            assert k.any()  # every layer keeps a channel
        assert CH.keep_vectors(new, ["output"])["output"].all()  # the logits never go
        masks = new


@FAST
@given(chains(), st.floats(0.05, 0.9), st.integers(1, 5))
def test_global_rounds_follow_the_planned_channel_schedule(case, rate, rounds):
    """Each round removes prune_count(rate, live channels), unless a layer's last one would go."""
    plan, weights, masks = case
    total = sum(p.channels for p in plan.producers.values())
    floor = len(plan.producers)  # each layer's best channel is never removed
    alive = total
    for _ in range(rounds):
        masks = CH.prune(weights, masks, plan, rate, "global")
        alive = max(alive - M.prune_count(rate, alive), floor)
        kept = sum(int(k.sum()) for k in CH.keep_vectors(masks, plan.producers).values())
        assert kept == alive
        assert CH.channel_sparsity(masks, plan) == pytest.approx(1 - kept / total)


def test_schedule_over_rounds_matches_the_plan_on_wide_layers():
    """Wide layers (no floor reached): channel sparsity tracks 1 - (1 - rate)**r within rounding."""
    rng = np.random.default_rng(0)
    producers = {
        "a": CH.Producer("a", 64, (CH.Consumer("b"),)),
        "b": CH.Producer("b", 96, (CH.Consumer("output", repeat=4),)),
    }
    weights = {
        "a": rng.normal(size=(3, 3, 3, 64)),
        "b": rng.normal(size=(3, 3, 64, 96)) * 0.5,
        "output": rng.normal(size=(384, 10)),
    }
    plan = CH.ChannelPlan(producers, {})
    for scope in M.SCOPES:
        masks = M.ones_like(weights)
        alive = {"a": 64, "b": 96}
        for r in range(1, 6):
            masks = CH.prune(weights, masks, plan, 0.2, scope)
            keep = CH.keep_vectors(masks, producers)
            if scope == "layerwise":
                for n, before in alive.items():
                    alive[n] = before - M.prune_count(0.2, before)
                    assert int(keep[n].sum()) == alive[n]
            kept = sum(int(k.sum()) for k in keep.values())
            assert abs(CH.channel_sparsity(masks, plan) - expected_sparsity(0.2, r)) <= 2 * r / 160
            assert_channel_masks(masks, plan)
            if scope == "global":
                assert kept == 160 - round(160 * CH.channel_sparsity(masks, plan))


def test_lowest_l1_channels_go_first_and_one_shot_hits_the_fraction():
    w = np.ones((2, 5), dtype=np.float32) * np.array([5, 1, 4, 2, 3], dtype=np.float32)
    weights = {"h": w, "output": np.ones((5, 2), dtype=np.float32)}
    plan = CH.ChannelPlan({"h": CH.Producer("h", 5, (CH.Consumer("output"),))}, {})
    masks = CH.prune(weights, M.ones_like(weights), plan, 0.4)
    assert CH.keep_vectors(masks, ["h"])["h"].tolist() == [True, False, True, False, True]
    assert masks["output"][:, 0].tolist() == [1, 0, 1, 0, 1]
    one = CH.prune_to_fraction(weights, M.ones_like(weights), plan, 0.6)
    assert CH.keep_vectors(one, ["h"])["h"].tolist() == [True, False, True, False, False]


def test_random_channel_masks_keep_counts_and_form():
    rng = np.random.default_rng(1)
    plan = CH.ChannelPlan({"h": CH.Producer("h", 20, (CH.Consumer("output", 2),))}, {})
    weights = {"h": rng.normal(size=(3, 3, 4, 20)), "output": rng.normal(size=(40, 3))}
    masks = CH.prune(weights, M.ones_like(weights), plan, 0.5)
    rand = CH.random_masks(masks, plan, 7)
    assert_channel_masks(rand, plan)
    k0, k1 = CH.keep_vectors(masks, ["h"])["h"], CH.keep_vectors(rand, ["h"])["h"]
    assert k0.sum() == k1.sum() == 10 and not np.array_equal(k0, k1)
    assert M.count(rand) == M.count(masks)  # the same weight sparsity


def test_narrow_keep_needs_every_reader_dead():
    plan = CH.ChannelPlan({"h": CH.Producer("h", 3, (CH.Consumer("o1"), CH.Consumer("o2")))}, {})
    masks = {"h": np.ones((2, 3)), "o1": np.ones((3, 2)), "o2": np.ones((3, 2))}
    masks["o1"][1] = 0
    assert CH.narrow_keep(masks, plan)["h"].tolist() == [True, True, True]
    masks["o2"][1] = 0
    assert CH.narrow_keep(masks, plan)["h"].tolist() == [True, False, True]
    del masks["o2"]  # an unmasked reader reads everything
    assert CH.narrow_keep(masks, plan)["h"].all()


@pytest.mark.parametrize(
    "key,value,needle",
    [
        ("prune.structure", "filters", "prune.structure 'filters' is unknown; use weights, channels"),
        ("prune.layer_rates", {"output": 0.1}, "prune.layer_rates works with prune.structure=weights"),
    ],
)
def test_config_refuses_bad_structure_in_one_line(key, value, needle):
    field = key.split(".")[1]
    prune = C.Prune(structure="channels") if field != "structure" else C.Prune()
    exp = C.Experiment(prune=dataclasses.replace(prune, **{field: value}))
    with pytest.raises(LthError) as err:
        C.validate(exp)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_config_accepts_channels_and_keeps_old_run_names():
    exp = C.Experiment(prune=C.Prune(structure="channels"))
    assert C.validate(exp) is exp
    assert "structure" not in C.Experiment().canonical()  # the default does not rename runs
    assert "channels" in C.STRUCTURES


def test_channels_module_imports_no_tensorflow():
    code = "import sys, lth_tf.core.masks.channels; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
