"""Property tests for lth_tf/core/masks/magnitude.py (pure numpy, no TensorFlow)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lth_tf.core import masks as M
from lth_tf.core.schedule import expected_sparsity

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # max_examples: the Hypothesis profile (tests/conftest.py)


# -- strategies ---------------------------------------------------------------------------


@st.composite
def layers(draw, min_layers=1, max_layers=4, max_size=40):
    """Kernels of a few small layers; `ties` draws small integers so many magnitudes repeat."""
    n = draw(st.integers(min_layers, max_layers))
    seed = draw(st.integers(0, 2**32 - 1))
    ties = draw(st.booleans())
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=3)))
        while int(np.prod(shape)) > max_size:
            shape = shape[1:] or (1,)
        if ties:
            w = rng.integers(-3, 4, size=shape).astype(np.float32)
        else:
            w = rng.standard_normal(shape).astype(np.float32)
        out[f"layer{i}"] = w
    return out


@st.composite
def weights_and_masks(draw, **kw):
    """Weights plus a random existing (possibly sparse) mask."""
    w = draw(layers(**kw))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    keep_p = draw(st.sampled_from([1.0, 0.8, 0.5]))
    m = {k: (rng.random(a.shape) < keep_p).astype(np.float32) for k, a in w.items()}
    return w, m


rates = st.sampled_from([0.1, 0.2, 0.25, 0.5, 0.8]) | st.floats(0.01, 0.99)
scopes = st.sampled_from(M.SCOPES)


def kept(m):
    return int(np.count_nonzero(m))


def newly_pruned_and_kept(w, old, new, names):
    """|w| of weights pruned this round, and of the weights still kept, over `names`."""
    pruned = np.concatenate([np.abs(w[n])[(old[n] != 0) & (new[n] == 0)] for n in names])
    still = np.concatenate([np.abs(w[n])[new[n] != 0] for n in names])
    return pruned, still


def assert_one_threshold(w, old, new, names):
    pruned, still = newly_pruned_and_kept(w, old, new, names)
    if pruned.size and still.size:
        assert pruned.max() <= still.min()


# -- basic shape and type ----------------------------------------------------------------------


def test_ones_like_and_counts():
    w = {"a": np.zeros((2, 3)), "b": np.zeros(5)}
    m = M.ones_like(w)
    assert {k: v.shape for k, v in m.items()} == {"a": (2, 3), "b": (5,)}
    assert all(v.dtype == np.float32 and (v == 1).all() for v in m.values())
    m["b"][:2] = 0
    assert M.count(m) == (9, 11)
    assert M.count(m, exclude=("b",)) == (6, 6)
    assert M.sparsity(m) == pytest.approx(2 / 11)
    assert M.sparsity(m, exclude=("b",)) == 0.0
    assert M.layer_sparsity(m) == {"a": 0.0, "b": pytest.approx(0.4)}
    assert M.sparsity({}) == 0.0


def test_no_tensorflow_imported():
    # In a fresh interpreter: other test modules import TF into this one.
    code = "import sys, lth_tf.core.masks; print('tensorflow' in sys.modules or 'tf_keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_expected_sparsity_and_rate_for():
    assert expected_sparsity(0.2, 0) == 0.0
    assert expected_sparsity(0.2, 1) == pytest.approx(0.2)
    assert expected_sparsity(0.2, 7) == pytest.approx(1 - 0.8**7)
    for rounds, final in [(1, 0.5), (7, 0.79), (20, 0.988)]:
        assert expected_sparsity(M.rate_for(rounds, final), rounds) == pytest.approx(final)
    for bad in [(0, 0.5), (3, 0.0), (3, 1.0), (3, -0.1), (2.5, 0.5)]:
        with pytest.raises(ValueError):
            M.rate_for(*bad)


def test_prune_count_is_round():
    assert M.prune_count(0.2, 10) == 2
    assert M.prune_count(0.2, 7) == round(1.4) == 1
    assert M.prune_count(0.5, 1) == round(0.5) == 0
    assert M.prune_count(0.99, 3) == 3
    assert M.prune_count(0.2, 0) == 0


def test_small_example_global_and_layerwise():
    w = {"a": np.array([0.1, -0.9, 0.5, 0.3], np.float32), "b": np.array([2.0, -0.2, 1.0, 0.05])}
    m = M.ones_like(w)
    g = M.prune(w, m, 0.5, scope="global")  # 4 smallest of all: .05, .1, .2, .3
    assert g["a"].tolist() == [0, 1, 1, 0] and g["b"].tolist() == [1, 0, 1, 0]
    lw = M.prune(w, m, 0.5, scope="layerwise")  # 2 per layer
    assert lw["a"].tolist() == [0, 1, 1, 0] and lw["b"].tolist() == [1, 0, 1, 0]
    lw2 = M.prune(w, lw, 0.5, scope="layerwise")
    assert lw2["a"].tolist() == [0, 1, 0, 0] and lw2["b"].tolist() == [1, 0, 0, 0]


def test_ties_are_broken_by_layer_name_then_flat_index():
    w = {"b": np.ones(4, np.float32), "a": np.ones((2, 2), np.float32)}
    out = M.prune(w, M.ones_like(w), 0.5, scope="global")  # 4 of 8 equal magnitudes
    assert out["a"].tolist() == [[0, 0], [0, 0]] and out["b"].tolist() == [1, 1, 1, 1]
    out = M.prune(w, M.ones_like(w), 0.25, scope="global")
    assert out["a"].tolist() == [[0, 0], [1, 1]] and out["b"].tolist() == [1, 1, 1, 1]
    assert list(out) == ["b", "a"]  # the caller's order is kept


def test_masked_weights_are_ignored_even_if_nonzero():
    w = {"a": np.array([100.0, 0.5, 0.2, 0.3, 0.1], np.float32)}
    m = {"a": np.array([0, 1, 1, 1, 1], np.float32)}
    out = M.prune(w, m, 0.5)
    assert out["a"].tolist() == [0, 1, 0, 1, 0]  # round(0.5*4)=2 of the 4 remaining


def test_everything_pruned_and_nothing_left():
    w = {"a": np.arange(1, 4, dtype=np.float32)}
    out = M.prune(w, M.ones_like(w), 0.9)  # round(2.7) = 3
    assert kept(out["a"]) == 0
    again = M.prune(w, out, 0.5)
    assert kept(again["a"]) == 0


# -- properties ------------------------------------------------------------------------------


@FAST
@given(layers(), rates, st.integers(1, 5), scopes)
def test_rounds_give_expected_sparsity(w, p, r, scope):
    m = M.ones_like(w)
    names = sorted(w)
    total = sum(a.size for a in w.values())
    per_layer = {n: w[n].size for n in names}
    remaining_total = total
    for _ in range(r):
        new = M.prune(w, m, p, scope=scope)
        for n in names:  # nested
            assert (new[n] <= m[n]).all()
            assert set(np.unique(new[n])) <= {0.0, 1.0} and new[n].dtype == np.float32
        m = new
        if scope == "layerwise":
            per_layer = {n: k - M.prune_count(p, k) for n, k in per_layer.items()}
        else:
            remaining_total -= M.prune_count(p, remaining_total)
    if scope == "layerwise":
        assert {n: kept(m[n]) for n in names} == per_layer
    else:
        assert sum(kept(m[n]) for n in names) == remaining_total
    assert abs(M.sparsity(m) - expected_sparsity(p, r)) <= len(names) * r / total


@FAST
@given(weights_and_masks(), rates, scopes)
def test_one_threshold(wm, p, scope):
    w, m = wm
    new = M.prune(w, m, p, scope=scope)
    for n in w:
        assert (new[n] <= m[n]).all()
    if scope == "global":
        assert_one_threshold(w, m, new, list(w))
        remaining = sum(kept(m[n]) for n in w)
        assert sum(kept(new[n]) for n in w) == remaining - M.prune_count(p, remaining)
    else:
        for n in w:
            assert_one_threshold(w, m, new, [n])
            assert kept(new[n]) == kept(m[n]) - M.prune_count(p, kept(m[n]))


@FAST
@given(weights_and_masks(), rates, scopes)
def test_deterministic_and_order_independent(wm, p, scope):
    w, m = wm
    a = M.prune(w, m, p, scope=scope)
    b = M.prune({k: v.copy() for k, v in w.items()}, {k: v.copy() for k, v in m.items()}, p, scope)
    rev_w = dict(reversed(list(w.items())))
    rev_m = dict(reversed(list(m.items())))
    c = M.prune(rev_w, rev_m, p, scope=scope)
    for n in w:
        assert a[n].tobytes() == b[n].tobytes() == c[n].tobytes()


@FAST
@given(weights_and_masks(), rates, scopes)
def test_masked_values_do_not_matter(wm, p, scope):
    w, m = wm
    noisy = {n: np.where(m[n] != 0, w[n], np.float32(1e6)) for n in w}
    zeroed = {n: w[n] * m[n] for n in w}
    a, b = M.prune(noisy, m, p, scope=scope), M.prune(zeroed, m, p, scope=scope)
    for n in w:
        assert np.array_equal(a[n], b[n])


@FAST
@given(weights_and_masks(min_layers=2), rates, scopes, st.data())
def test_excluded_layers_untouched(wm, p, scope, data):
    w, m = wm
    ex = data.draw(st.lists(st.sampled_from(sorted(w)), min_size=1, unique=True))
    new = M.prune(w, m, p, scope=scope, exclude=ex + ["not_a_layer"])
    for n in ex:
        assert np.array_equal(new[n], m[n])
    rest = [n for n in w if n not in ex]
    if rest and scope == "global":
        remaining = sum(kept(m[n]) for n in rest)
        assert sum(kept(new[n]) for n in rest) == remaining - M.prune_count(p, remaining)
        assert_one_threshold(w, m, new, rest)
    # excluded layers do not shift what the others lose
    only = M.prune({n: w[n] for n in rest}, {n: m[n] for n in rest}, p, scope=scope)
    for n in rest:
        assert np.array_equal(new[n], only[n])


@FAST
@given(weights_and_masks(min_layers=2), rates, st.sampled_from([0.0, 0.1, 0.5]), scopes, st.data())
def test_layer_rates_override(wm, p, q, scope, data):
    w, m = wm
    over = data.draw(st.sampled_from(sorted(w)))
    new = M.prune(w, m, p, scope=scope, layer_rates={over: q})
    assert kept(new[over]) == kept(m[over]) - M.prune_count(q, kept(m[over]))
    assert_one_threshold(w, m, new, [over])
    rest = [n for n in w if n != over]
    if scope == "global":
        remaining = sum(kept(m[n]) for n in rest)
        assert sum(kept(new[n]) for n in rest) == remaining - M.prune_count(p, remaining)
        assert_one_threshold(w, m, new, rest)
    else:
        for n in rest:
            assert kept(new[n]) == kept(m[n]) - M.prune_count(p, kept(m[n]))


def test_output_layer_at_half_rate_example():
    rng = np.random.default_rng(0)
    w = {"hidden": rng.standard_normal((20, 10)), "output": 0.01 * rng.standard_normal((10, 10))}
    m = M.ones_like(w)
    plain = M.prune(w, m, 0.2)
    assert kept(plain["output"]) < 60  # tiny output weights go first under one threshold
    half = M.prune(w, m, 0.2, layer_rates={"output": 0.1})
    assert kept(half["output"]) == 90 and kept(half["hidden"]) == 160


@FAST
@given(weights_and_masks(), st.integers(0, 2**32 - 1), st.data())
def test_random_masks_keep_counts(wm, seed, data):
    _, m = wm
    ex = data.draw(st.lists(st.sampled_from(sorted(m)), unique=True))
    a = M.random_masks(m, np.random.default_rng(seed), exclude=ex)
    b = M.random_masks(dict(reversed(list(m.items()))), np.random.default_rng(seed), exclude=ex)
    assert list(a) == list(m)
    for n in m:
        assert a[n].shape == m[n].shape and a[n].dtype == np.float32
        assert kept(a[n]) == kept(m[n])
        assert np.array_equal(a[n], b[n])
        if n in ex:
            assert np.array_equal(a[n], m[n])


def test_random_masks_differ_between_rngs():
    w = {"a": np.random.default_rng(0).standard_normal((50, 40)), "b": np.ones(300)}
    m = M.prune(w, M.ones_like(w), 0.5, scope="layerwise")
    a = M.random_masks(m, np.random.default_rng(1))
    b = M.random_masks(m, np.random.default_rng(2))
    c = M.random_masks(m, 1)  # an int seed works too
    for n in m:
        assert kept(a[n]) == kept(b[n]) == kept(m[n])
        assert not np.array_equal(a[n], b[n])
        assert not np.array_equal(a[n], m[n])
        assert np.array_equal(a[n], c[n])
    with pytest.raises(TypeError):
        M.random_masks(m, "seed")


@FAST
@given(weights_and_masks(), st.floats(0.0, 0.95), scopes)
def test_prune_to_sparsity_hits_target(wm, target, scope):
    w, m = wm
    new = M.prune_to_sparsity(w, m, target, scope=scope)
    total = sum(a.size for a in w.values())
    for n in w:
        assert (new[n] <= m[n]).all()
    if scope == "global":
        assert_one_threshold(w, m, new, list(w))
        want = max(round(target * total), total - sum(kept(m[n]) for n in w))  # never unprunes
        assert total - sum(kept(new[n]) for n in w) == want
    else:
        for n in w:
            assert_one_threshold(w, m, new, [n])
            zeros = w[n].size - kept(new[n])
            already = w[n].size - kept(m[n])
            assert zeros == already or abs(zeros - target * w[n].size) <= 1
    if all((a == 1).all() for a in m.values()):
        assert abs(M.sparsity(new) - target) * total <= len(w)


@FAST
@given(layers(min_layers=3), st.floats(0.1, 0.9), st.sampled_from([0.0, 0.3]), scopes)
def test_prune_to_sparsity_with_override_and_exclude(w, target, q, scope):
    names = sorted(w)
    ex, over = names[0], names[1]
    m = M.ones_like(w)
    new = M.prune_to_sparsity(w, m, target, scope=scope, layer_rates={over: q}, exclude=[ex])
    assert np.array_equal(new[ex], m[ex])
    assert w[over].size - kept(new[over]) == round(q * w[over].size)
    prunable = [n for n in names if n != ex]
    total = sum(w[n].size for n in prunable)
    zeros = total - sum(kept(new[n]) for n in prunable)
    rest_size = sum(w[n].size for n in prunable if n != over)
    want = round(target * total)
    lo = w[over].size - kept(new[over])  # the override alone
    if lo <= want <= lo + rest_size:
        slack = 0 if scope == "global" else len(prunable)
        assert abs(zeros - want) <= slack
    assert M.sparsity(new, exclude=[ex]) == pytest.approx(zeros / total)


def test_prune_to_sparsity_matches_imp_count_in_one_round():
    rng = np.random.default_rng(3)
    w = {"a": rng.standard_normal((30, 30)), "b": rng.standard_normal(100)}
    one = M.prune_to_sparsity(w, M.ones_like(w), 0.36)
    assert M.count(one) == (640, 1000)
    assert M.prune_to_sparsity(w, one, 0.0)["a"].tolist() == one["a"].tolist()  # never unprunes


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0, 0.0, 1, 1.0, 1.5, -0.2, float("nan"), True, "0.2"])
def test_bad_rate(rate):
    w = {"a": np.ones(3)}
    with pytest.raises(ValueError, match="rate"):
        M.prune(w, M.ones_like(w), rate)


def test_bad_inputs_name_the_layer():
    w = {"conv": np.ones((2, 2)), "dense": np.ones(3)}
    m = M.ones_like(w)
    with pytest.raises(ValueError, match="'dense'.*shape"):
        M.prune(w, {**m, "dense": np.ones(4)}, 0.2)
    with pytest.raises(ValueError, match="'dense'.*no mask"):
        M.prune(w, {"conv": m["conv"]}, 0.2)
    with pytest.raises(ValueError, match="'extra'.*no weights"):
        M.prune(w, {**m, "extra": np.ones(1)}, 0.2)
    with pytest.raises(ValueError, match="scope"):
        M.prune(w, m, 0.2, scope="local")
    with pytest.raises(ValueError, match="'outptu'"):
        M.prune(w, m, 0.2, layer_rates={"outptu": 0.1})
    with pytest.raises(ValueError, match="layer_rates\\['dense'\\]"):
        M.prune(w, m, 0.2, layer_rates={"dense": 1.0})
    with pytest.raises(ValueError, match="'conv'.*NaN"):
        M.prune({**w, "conv": np.array([[1.0, np.nan], [1, 1]])}, m, 0.2)
    with pytest.raises(TypeError):
        M.prune(w, m, 0.2, exclude="conv")
    with pytest.raises(ValueError, match="target"):
        M.prune_to_sparsity(w, m, 1.0)
    # a NaN that is already masked out is ignored
    nan_w = {**w, "conv": np.array([[1.0, np.nan], [1, 1]])}
    out = M.prune(nan_w, {**m, "conv": np.array([[1, 0], [1, 1]], np.float32)}, 0.5, "layerwise")
    assert kept(out["conv"]) == 1  # round(0.5 * 3) = 2 of the 3 remaining go


def test_inputs_are_not_modified():
    w = {"a": np.array([3.0, 1.0, 2.0])}
    m = {"a": np.array([1.0, 1.0, 1.0])}
    M.prune(w, m, 0.5)
    M.random_masks(m, np.random.default_rng(0))
    assert w["a"].tolist() == [3.0, 1.0, 2.0] and m["a"].tolist() == [1.0, 1.0, 1.0]


def test_one_shot_with_every_layer_at_its_own_rate_leaves_no_rest_to_prune():
    """Global one-shot: nothing is left to absorb the target once every layer has its own rate."""
    w = {"a": np.arange(1.0, 8.0), "b": np.arange(1.0, 5.0)}
    out = M.prune_to_sparsity(w, M.ones_like(w), 0.5, "global", {"a": 0.0, "b": 0.5})
    assert out["a"].tolist() == [1] * 7 and out["b"].tolist() == [0, 0, 1, 1]
