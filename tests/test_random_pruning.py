"""`prune.structure = random`: random pruning, the baseline criterion.

Pure properties (hypothesis, no TensorFlow): each step removes exactly the
counts magnitude pruning removes (global, layerwise, layer_rates, exclude,
one-shot), never revives a weight, ignores the weights' values, and depends on
(seed, round) alone. Then one smoke run end to end (rounds, both controls, and a
resumed round drawing the same masks).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lth_tf.core import criteria
from lth_tf.core import masks as M

RANDOM = criteria.get("random")
MAGNITUDE = criteria.get("weights")
FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # max_examples: the Hypothesis profile (tests/conftest.py)


@st.composite
def problems(draw):
    """Kernels of 1-4 layers, an existing mask, and the settings of one step."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 4))
    kernels = {f"layer{i}": rng.normal(size=draw(st.sampled_from([(7,), (3, 4), (2, 3, 5), (1,)]))) for i in range(n)}
    keep = draw(st.sampled_from([1.0, 0.7, 0.4]))
    masks = {k: (rng.random(w.shape) < keep).astype(np.float32) for k, w in kernels.items()}
    names = sorted(kernels)
    exclude = tuple(draw(st.lists(st.sampled_from(names), max_size=1, unique=True)))
    rated = draw(st.lists(st.sampled_from(names), max_size=2, unique=True))
    layer_rates = {k: draw(st.sampled_from([0.0, 0.3, 0.9])) for k in rated if k not in exclude}
    step = criteria.Step(
        scope=draw(st.sampled_from(M.SCOPES)), exclude=exclude, layer_rates=layer_rates,
        seed=draw(st.integers(-3, 2**40)), round=draw(st.integers(1, 30)),
    )  # fmt: skip
    return kernels, masks, step


rates = st.sampled_from([0.1, 0.2, 0.5, 0.8]) | st.floats(0.01, 0.99)


def kept(masks, names):
    return {n: int(np.count_nonzero(masks[n])) for n in names}


def groups(step, names):
    """The pruning groups magnitude pruning uses: each layer with its own rate, the rest shared or per layer."""
    prunable = [n for n in sorted(names) if n not in step.exclude]
    shared = [n for n in prunable if n not in step.layer_rates]
    out = [[n] for n in prunable if n in step.layer_rates]
    return out + ([shared] if step.scope == "global" and shared else [[n] for n in shared])


@FAST
@given(problems(), rates, st.booleans())
def test_prunes_exactly_the_count_magnitude_pruning_prunes(problem, rate, one_shot):
    kernels, masks, step = problem
    if one_shot:
        new, ref = RANDOM.prune_to(kernels, masks, rate, step), MAGNITUDE.prune_to(kernels, masks, rate, step)
    else:
        new, ref = RANDOM.prune(kernels, masks, rate, step), MAGNITUDE.prune(kernels, masks, rate, step)
    for group in groups(step, kernels):
        assert sum(kept(new, group).values()) == sum(kept(ref, group).values()), group
    if not one_shot:  # the planned count itself: prune_count of what remained, per group
        for group in groups(step, kernels):
            r = step.layer_rates.get(group[0], rate) if len(group) == 1 else rate
            before = sum(kept(masks, group).values())
            assert before - sum(kept(new, group).values()) == M.prune_count(r, before)
    for n in step.exclude:
        np.testing.assert_array_equal(new[n], masks[n])


@FAST
@given(problems(), rates)
def test_never_revives_and_keeps_the_mask_format(problem, rate):
    kernels, masks, step = problem
    new = RANDOM.prune(kernels, masks, rate, step)
    assert list(new) == list(kernels)
    for n, m in new.items():
        assert m.dtype == np.float32 and m.shape == kernels[n].shape and set(np.unique(m)) <= {0.0, 1.0}
        assert not ((m != 0) & (masks[n] == 0)).any(), f"{n}: a pruned weight came back"


@FAST
@given(problems(), rates, st.integers(0, 2**32 - 1))
def test_ignores_the_weights_values_and_the_dict_order(problem, rate, other):
    kernels, masks, step = problem
    rng = np.random.default_rng(other)
    different = {n: rng.normal(size=w.shape) * 100 for n, w in kernels.items()}
    different[next(iter(different))].flat[0] = np.nan  # even a NaN changes nothing
    a = RANDOM.prune(kernels, masks, rate, step)
    b = RANDOM.prune(dict(reversed(list(different.items()))), masks, rate, step)
    assert all(np.array_equal(a[n], b[n]) for n in kernels)


@FAST
@given(problems(), rates)
def test_is_reproducible_for_a_seed_and_round(problem, rate):
    kernels, masks, step = problem
    a = RANDOM.prune(kernels, masks, rate, step)
    b = RANDOM.prune({n: w.copy() for n, w in kernels.items()}, {n: m.copy() for n, m in masks.items()}, rate, step)
    assert all(a[n].tobytes() == b[n].tobytes() for n in kernels)


def test_other_seeds_and_rounds_draw_other_masks_uniformly():
    kernels = {"a": np.arange(40.0).reshape(8, 5), "b": np.ones(20)}
    masks = M.ones_like(kernels)
    draws = [RANDOM.prune(kernels, masks, 0.5, criteria.Step(seed=s, round=r)) for s in range(3) for r in (1, 2)]
    flat = {np.concatenate([d[n].ravel() for n in kernels]).tobytes() for d in draws}
    assert len(flat) == len(draws)
    # Every position is pruned about equally often (magnitude would always prune a's first half).
    freq = np.mean([RANDOM.prune(kernels, masks, 0.5, criteria.Step(seed=s, round=1))["a"] for s in range(400)], axis=0)
    assert np.abs(freq - 0.5).max() < 0.12


# -- end to end ------------------------------------------------------------------------------


@pytest.mark.slow  # a whole search through cli.main, and a resumed round
def test_smoke_run_with_random_pruning_and_both_controls(tmp_path):
    """smoke, 2 rounds at 0.5, 1 epoch: rounds prune the planned counts at random, controls run, resume is exact."""
    from lth_tf.frontends.cli import main as cli
    from lth_tf.storage import rundir, store

    args = ["run", "--preset", "smoke", "--set", "train.epochs=1", "--set", "prune.structure=random",
            "--set", "prune.controls=random_reinit,random_mask", "--set", "prune.tolerance=1.0",
            "--out", str(tmp_path / "runs"), "--quiet", "--no-export"]  # fmt: skip
    assert cli.main(args) == 0
    (run_dir,) = list((tmp_path / "runs").iterdir())
    exp = rundir.read_experiment(run_dir)
    rs = store.RunStore(run_dir)
    masks = {r: rs.load_round(r)[1] for r in (0, 1, 2)}
    weights = {r: rs.load_round(r)[0] for r in (0, 1, 2)}
    for r in (1, 2):
        # exactly the planned count (global: prune_count of all remaining), nested in round r-1
        before, after = M.count(masks[r - 1])[0], M.count(masks[r])[0]
        assert before - after == M.prune_count(exp.prune.rate, before)
        assert all(((masks[r][k] != 0) <= (masks[r - 1][k] != 0)).all() for k in masks[r])
        # the criterion alone gives them: from (seed, round), whatever the trained weights were
        step = criteria.Step(exp.prune.scope, exp.prune.exclude, exp.prune.layer_rates, None, exp.seed, r)
        redrawn = RANDOM.prune({k: np.zeros(m.shape) for k, m in masks[r].items()}, masks[r - 1], exp.prune.rate, step)
        assert all(np.array_equal(redrawn[k], masks[r][k]) for k in masks[r])
    for kind in ("random_reinit", "random_mask"):
        assert rs.control_metrics(kind, 2)["sparsity"] == pytest.approx(rs.round_metrics(2)["sparsity"])

    shutil.rmtree(rundir.round_dir(run_dir, 2))  # resume: round 2 again, from the stored round 1
    assert cli.main(args) == 0
    again = rs.load_round(2)
    assert all(again[1][k].tobytes() == masks[2][k].tobytes() for k in masks[2])
    assert all(a.tobytes() == b.tobytes() for a, b in zip(again[0], weights[2], strict=True))
