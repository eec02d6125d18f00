"""`prune.structure = refill`: IMP-Refill (lth_tf/core/criteria/refill.py).

Pure numpy first (hypothesis on the channel chains of tests/helpers/channels.py):
refill masks remove whole channels only, never revive one, keep exactly the
channel counts `channels` plans (iterative and one-shot, both scopes), and keep
the channels with the largest L1 norm of the weights the unstructured magnitude
mask kept (a reference implementation and hand-made cases where that differs
from `channels` and from counting kept weights). The random-mask control draws
as many live channels per layer. Then Keras: a refilled model narrowed and
exported predicts what the masked model predicts (atol 1e-5), and one smoke run
through the CLI (slow) that resumes to the same summary and exports narrow.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import numpy as np
import pytest
from helpers.channels import assert_channel_masks, chains
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lth_tf.core import config as C
from lth_tf.core import criteria
from lth_tf.core import masks as M
from lth_tf.core.errors import LthError
from lth_tf.core.masks import channels as CH

REFILL = criteria.get("refill")
CHANNELS = criteria.get("channels")
FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # max_examples: the Hypothesis profile (tests/conftest.py)
rates = st.sampled_from([0.1, 0.2, 0.5, 0.8]) | st.floats(0.05, 0.9)


def live(masks, plan):
    return {n: int(k.sum()) for n, k in CH.keep_vectors(masks, plan.producers).items()}


def reference_keep(weights, masks, plan, rate, scope):
    """IMP-Refill written out: the unstructured mask, each live channel's kept L1 norm per
    weight of the channel, the lowest-scored go (ties: layer name, channel index), each
    layer keeps its best; channels' counts."""
    unstructured = M.prune(weights, masks, rate, scope)
    names = plan.prunable(masks)
    keep = CH.keep_vectors(masks, names)
    groups = [names] if scope == "global" else [[n] for n in names]
    for group in groups:
        k = M.prune_count(rate, sum(int(keep[n].sum()) for n in group))
        cands = []
        for n in group:
            w = np.abs(weights[n].astype(np.float64)) * (unstructured[n] != 0)
            flat = w.reshape(-1, w.shape[-1])
            score = flat.sum(axis=0) / flat.shape[0]
            alive = np.flatnonzero(keep[n])
            best = alive[np.lexsort((alive, score[alive]))][-1]
            cands += [(score[i], n, i) for i in alive if i != best]
        for _, n, i in sorted(cands)[:k]:
            keep[n][i] = False
    return keep


@FAST
@given(chains(), rates, st.sampled_from(M.SCOPES), st.integers(1, 4))
def test_refill_removes_whole_channels_only_and_never_revives(case, rate, scope, rounds):
    plan, weights, masks = case
    step = criteria.Step(scope=scope, channel_plan=plan)
    removed: dict[str, set] = {n: set() for n in plan.producers}
    for _ in range(rounds):
        new = REFILL.prune(weights, masks, rate, step)
        assert list(new) == list(masks)
        assert_channel_masks(new, plan)
        for name in masks:  # nested: a removed weight stays removed
            assert new[name].dtype == np.float32 and new[name].shape == masks[name].shape
            assert not np.any((new[name] != 0) & (masks[name] == 0)), name
        keep = CH.keep_vectors(new, plan.producers)
        assert all(k.any() for k in keep.values())  # every layer keeps a channel
        assert CH.keep_vectors(new, ["output"])["output"].all()  # the logits never go
        for n, k in keep.items():
            assert not (removed[n] & set(np.flatnonzero(k))), f"{n}: a removed channel came back"
            removed[n] |= set(np.flatnonzero(~k))
        masks = new
        # a removed channel's weights growing large changes nothing: it stays removed
        weights = {n: w + 100.0 * (masks[n] == 0) for n, w in weights.items()}


@FAST
@given(chains(), rates, st.sampled_from(M.SCOPES), st.integers(1, 3), st.booleans())
def test_refill_keeps_the_channel_counts_channels_plans(case, rate, scope, rounds, one_shot):
    """Per group (global: all prunable layers; layerwise: each) exactly the live channels `channels` keeps."""
    plan, weights, masks = case
    step = criteria.Step(scope=scope, channel_plan=plan)
    total = sum(p.channels for p in plan.producers.values())
    for _ in range(rounds):
        if one_shot:
            new, ref = REFILL.prune_to(weights, masks, rate, step), CHANNELS.prune_to(weights, masks, rate, step)
        else:
            new, ref = REFILL.prune(weights, masks, rate, step), CHANNELS.prune(weights, masks, rate, step)
        got, want = live(new, plan), live(ref, plan)
        if scope == "global":
            assert sum(got.values()) == sum(want.values())
            before = sum(live(masks, plan).values())
            if not one_shot:  # prune_count of the live channels, down to one per layer
                assert sum(got.values()) == max(before - M.prune_count(rate, before), len(plan.producers))
            else:
                assert CH.channel_sparsity(new, plan) == pytest.approx(CH.channel_sparsity(ref, plan))
        else:
            assert got == want
        assert CH.channel_sparsity(new, plan) == pytest.approx(1 - sum(got.values()) / total)
        masks = new
        if one_shot:
            break


@FAST
@given(chains(), rates, st.sampled_from(M.SCOPES))
def test_refill_keeps_the_top_channels_by_the_l1_norm_the_unstructured_mask_kept(case, rate, scope):
    plan, weights, masks = case
    masks = CHANNELS.prune(weights, masks, 0.3, criteria.Step(scope=scope, channel_plan=plan))  # some already gone
    new = REFILL.prune(weights, masks, rate, criteria.Step(scope=scope, channel_plan=plan))
    want = reference_keep(weights, masks, plan, rate, scope)
    got = CH.keep_vectors(new, plan.producers)
    assert {n: k.tolist() for n, k in got.items()} == {n: k.tolist() for n, k in want.items()}


@FAST
@given(chains(), rates, st.sampled_from(M.SCOPES))
def test_refill_is_deterministic_and_ignores_the_dict_order(case, rate, scope):
    plan, weights, masks = case
    step = criteria.Step(scope=scope, channel_plan=plan)
    a = REFILL.prune(weights, masks, rate, step)
    b = REFILL.prune(dict(reversed(list(weights.items()))), dict(reversed(list(masks.items()))), rate, step)
    assert all(a[n].tobytes() == b[n].tobytes() for n in masks)


def _one_layer(columns):
    """A producer 'h' whose channel j has the input weights columns[j], read by 'output'; layerwise, so
    the unstructured pass ranks h's weights among themselves."""
    w = np.array(columns, dtype=np.float32).T  # (rows, channels)
    c = w.shape[1]
    weights = {"h": w, "output": np.ones((c, 2), dtype=np.float32)}
    plan = CH.ChannelPlan({"h": CH.Producer("h", c, (CH.Consumer("output"),))}, {"output": "model output"})
    step = criteria.Step(scope="layerwise", channel_plan=plan)
    return weights, M.ones_like(weights), step


def test_the_kept_l1_norm_beats_the_plain_l1_norm():
    """rate 0.5 of 12 weights: the three 0.4s and three of the 0.9s go. Kept L1: a 3, b 4, c 0.9.
    Refill keeps b; `channels` (L1 of all weights: a 4.2, b 4, c 3.6) keeps a."""
    weights, masks, step = _one_layer([[3, 0.4, 0.4, 0.4], [1, 1, 1, 1], [0.9, 0.9, 0.9, 0.9]])
    new = REFILL.prune(weights, masks, 0.5, step)
    assert CH.keep_vectors(new, ["h"])["h"].tolist() == [False, True, False]
    assert new["output"][:, 0].tolist() == [0, 1, 0]  # the removed channels' input rows go too
    assert CH.keep_vectors(CHANNELS.prune(weights, masks, 0.5, step), ["h"])["h"].tolist() == [True, False, False]


def test_the_kept_l1_norm_beats_counting_kept_weights():
    """Kept after rate 0.5 (the 0.4s and 0.9s go): a {5} (1 weight, L1 5), b {1,1,1,1} (4, L1 4),
    c {0.9}: refill keeps a where the count (4 > 1) would keep b; one-shot agrees."""
    weights, masks, step = _one_layer([[5, 0.4, 0.4, 0.4], [1, 1, 1, 1], [0.9, 0.9, 0.9, 0.9]])
    assert CH.keep_vectors(REFILL.prune(weights, masks, 0.5, step), ["h"])["h"].tolist() == [True, False, False]
    one = REFILL.prune_to(weights, masks, 0.5, step)
    assert CH.keep_vectors(one, ["h"])["h"].tolist() == [True, False, False]


def test_layers_whose_channels_stay_whole_keep_their_masks():
    """A residually tied layer (blocked in the plan) and the logits are left as `channels` leaves them."""
    rng = np.random.default_rng(0)
    weights = {"a": rng.normal(size=(3, 6)), "tied": rng.normal(size=(6, 6)), "output": rng.normal(size=(6, 2))}
    plan = CH.ChannelPlan(
        {"a": CH.Producer("a", 6, (CH.Consumer("tied"),))}, {"tied": "tied by add (Add)", "output": "model output"}
    )
    step = criteria.Step(channel_plan=plan)
    new = REFILL.prune(weights, M.ones_like(weights), 0.5, step)
    ref = CHANNELS.prune(weights, M.ones_like(weights), 0.5, step)
    assert live(new, plan) == live(ref, plan) == {"a": 3}
    assert CH.keep_vectors(new, ["tied"])["tied"].all() and new["output"].all()
    assert np.array_equal(new["tied"], ref["tied"])  # only the rows of a's removed channels


@FAST
@given(chains(), rates, st.integers(0, 2**32 - 1))
def test_random_mask_control_draws_as_many_live_channels_per_layer(case, rate, seed):
    plan, weights, masks = case
    step = criteria.Step(channel_plan=plan)
    masks = REFILL.prune(weights, masks, rate, step)
    ctrl = REFILL.random_masks(masks, np.random.default_rng(seed), step)
    assert_channel_masks(ctrl, plan)
    assert live(ctrl, plan) == live(masks, plan)
    same = CHANNELS.random_masks(masks, np.random.default_rng(seed), step)  # channels' control, the same draws
    assert all(np.array_equal(ctrl[n], same[n]) for n in masks)


def test_config_accepts_refill_and_refuses_layer_rates():
    exp = C.Experiment(prune=C.Prune(structure="refill"))
    assert C.validate(exp) is exp and "refill" in C.STRUCTURES and REFILL.channels
    bad = C.Experiment(prune=C.Prune(structure="refill", layer_rates={"output": 0.1}))
    with pytest.raises(LthError, match="layer_rates works with prune.structure=weights"):
        C.validate(bad)


def test_report_says_the_rate_counts_channels():
    from lth_tf.frontends.report import settings_line

    line = settings_line({"prune": {"structure": "refill", "rate": 0.5, "rounds": 2}})
    assert "50% of the remaining channels" in line


def test_the_narrow_format_is_the_default_for_refill_tickets():
    """`formats.default` keys on `Criterion.channels` (export/ticket.py's `channel_pruned`): one place."""
    from lth_tf.export import formats

    assert formats.default(criteria.get("refill").channels) == "narrow"
    assert formats.default(criteria.get("weights").channels) == formats.DENSE


# -- Keras ------------------------------------------------------------------------------------


def test_a_refilled_model_narrowed_and_exported_predicts_what_the_masked_model_predicts(tmp_path):
    """tiny Conv-BN-ReLU-Conv-Dense and ResNet-18 at width 2, random BN statistics and biases,
    two refill rounds: the exported narrow SavedModel matches the masked model at atol 1e-5."""
    from helpers.channels import randomise
    from helpers.models import tiny_conv

    from lth_tf.export import export_savedmodel
    from lth_tf.keras_side import pruning as P
    from lth_tf.keras_side.models import resnet
    from lth_tf.keras_side.narrow import costs, narrow
    from lth_tf.platform.backend import keras, tf

    rng = np.random.default_rng(0)
    cases = {
        "conv": (tiny_conv(keras), rng.normal(size=(4, 6, 6, 3)).astype("float32")),
        "resnet": (resnet.build_resnet18(C.Model(name="resnet18", width=2), (8, 8, 3), 3, seed=0),
                   rng.normal(size=(4, 8, 8, 3)).astype("float32")),
    }  # fmt: skip
    for kind, (model, x) in cases.items():
        wrapped = P.wrap(model)
        randomise(keras, wrapped, rng)
        plan = P.channel_plan(wrapped)
        step = criteria.Step(scope="layerwise", channel_plan=plan, seed=0, round=1)
        masks = P.get_masks(wrapped)
        for _ in range(2):
            masks = REFILL.prune(P.get_kernels(wrapped), masks, 0.4, step)
        assert CH.channel_sparsity(masks, plan) > 0
        P.set_masks(wrapped, masks)
        reference = wrapped(tf.constant(x), training=False).numpy()
        small = narrow(wrapped)
        assert costs(small)["params"] < costs(P.strip(wrapped))["params"], kind
        loaded = tf.saved_model.load(str(export_savedmodel(small, tmp_path / kind)))
        np.testing.assert_allclose(loaded(tf.constant(x), training=False).numpy(), reference, atol=1e-5, rtol=0)


@pytest.mark.slow  # a whole search through the CLI, its rerun, an export
def test_smoke_run_with_refill_resumes_identically_and_exports_narrow(tmp_path):
    """smoke (tiny_cnn width 8: conv1 and conv2 prunable, 16 channels), 2 rounds at 0.5, 1 epoch."""
    from lth_tf.export import description
    from lth_tf.frontends.cli import main as cli
    from lth_tf.storage import rundir, store

    args = ["run", "--preset", "smoke", "--set", "train.epochs=1", "--set", "prune.structure=refill",
            "--set", "prune.controls=random_reinit,random_mask", "--set", "prune.tolerance=1.0",
            "--out", str(tmp_path / "runs"), "--quiet"]  # fmt: skip
    assert cli.main(args) == 0
    (run_dir,) = list((tmp_path / "runs").iterdir())
    rs = store.RunStore(run_dir)
    alive = 16
    masks = {r: rs.load_round(r)[1] for r in (0, 1, 2)}
    for r in (1, 2):
        alive -= M.prune_count(0.5, alive)
        assert rs.round_metrics(r)["channel_sparsity"] == pytest.approx(1 - alive / 16)
        for n, m in masks[r].items():  # whole channels: in_keep x out_keep, nested in round r - 1
            m = m != 0
            rows, cols = m.any(axis=-1), m.any(axis=-2)
            assert np.array_equal(m, rows[..., :, None] & cols[..., None, :]), n
            assert not (m & (masks[r - 1][n] == 0)).any(), n
    for kind in ("random_reinit", "random_mask"):
        assert rs.control_metrics(kind, 2)["sparsity"] == pytest.approx(rs.round_metrics(2)["sparsity"])
    # narrow is the default format of a refill ticket: the run's own ticket/
    assert description(run_dir / "ticket")["source"]["export_format"] == "narrow"

    summary = rundir.summary_path(run_dir).read_bytes()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert cli.main(args) == 0  # the same command again: the run is finished, nothing retrains
    assert rundir.summary_path(run_dir).read_bytes() == summary
    assert json.loads(summary)  # still a summary

    weights = rs.load_round(2)[0]
    shutil.rmtree(rundir.round_dir(run_dir, 2))  # resume: round 2 again, from the stored round 1
    assert cli.main(args) == 0
    again = rs.load_round(2)
    assert all(again[1][k].tobytes() == masks[2][k].tobytes() for k in masks[2])
    assert all(a.tobytes() == b.tobytes() for a, b in zip(again[0], weights, strict=True))


@pytest.mark.slow  # two small searches through the CLI
@pytest.mark.parametrize(
    "settings",
    [
        ["prune.early_bird=true", "prune.eb_window=1", "prune.rewind=lr", "distill.enabled=true"],
        ["prune.one_shot=true", "prune.rewind=finetune", "prune.scope=layerwise"],
    ],
    ids=["early-bird-lr-kd", "one-shot-finetune-layerwise"],
)
def test_refill_runs_with_the_other_settings_and_a_dense_round_from_another_run(tmp_path, settings):
    """Round 0 from a `weights` run (--dense-from), then refill rounds with early-bird, lr rewinding
    and KD, or one-shot with finetune rewinding: they finish at the channel sparsity `channels` plans."""
    from lth_tf.frontends.cli import main as cli
    from lth_tf.storage import store

    common = ["run", "--preset", "smoke", "--set", "train.epochs=3", "--set", "prune.tolerance=1.0",
              "--set", "prune.controls=random_mask", "--quiet", "--no-export"]  # fmt: skip
    assert cli.main([*common, "--set", "prune.rounds=1", "--out", str(tmp_path / "dense")]) == 0
    (source,) = list((tmp_path / "dense").iterdir())
    extra = [a for s in ["prune.structure=refill", *settings] for a in ("--set", s)]
    assert cli.main([*common, *extra, "--dense-from", str(source), "--out", str(tmp_path / "runs")]) == 0
    (run_dir,) = list((tmp_path / "runs").iterdir())
    rs = store.RunStore(run_dir)
    assert rs.round_metrics(0)["test_acc"] == store.RunStore(source).round_metrics(0)["test_acc"]
    if "prune.one_shot=true" in settings:  # one round, straight to 0.75 of each layer's 8 channels
        last = 1
        assert rs.round_metrics(1)["channel_sparsity"] == pytest.approx(1 - 2 * (8 - round(0.75 * 8)) / 16)
    else:  # global: prune_count of the 16 channels' live ones per round
        last, alive = 2, 16
        for r in (1, 2):
            alive -= M.prune_count(0.5, alive)
            assert rs.round_metrics(r)["channel_sparsity"] == pytest.approx(1 - alive / 16)
    assert rs.control_metrics("random_mask", last)["sparsity"] == pytest.approx(rs.round_metrics(last)["sparsity"])
