"""prune.rate_schedule: the planned per-round rates, their config checks, and the engine following them.

Pure checks of `schedule.round_rates` / `target_sparsity`, the pruning step's
rate per round on a tiny wrapped model (no training), and a real search whose
stored rounds reach the planned sparsities. Resuming mid-run is in
tests/test_resume_rate_schedule.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lth_tf.core import config as C
from lth_tf.core import masks as M
from lth_tf.core import schedule as S
from lth_tf.core.errors import LthError


# -- the plan ----------------------------------------------------------------------------------
def test_constant_is_the_configured_rate_every_round():
    assert S.round_rates(0.2, 4) == (0.2,) * 4
    for r in range(5):
        assert S.target_sparsity(0.2, 4, False, r, "constant") == S.target_sparsity(0.2, 4, False, r)
    assert S.final_sparsity(0.2, 4, "constant") == S.expected_sparsity(0.2, 4)


@pytest.mark.parametrize("rounds", [1, 2, 3, 5])
def test_cubic_reaches_its_sparsity_with_shrinking_steps(rounds):
    final = 0.95
    rates = S.round_rates(0.2, rounds, f"cubic:{final}")
    assert len(rates) == rounds and all(0 < x < 1 for x in rates)
    reached = [S.target_sparsity(0.2, rounds, False, r, f"cubic:{final}") for r in range(rounds + 1)]
    assert reached[0] == 0.0
    assert math.isclose(reached[-1], final, rel_tol=1e-12)
    assert math.isclose(S.final_sparsity(0.2, rounds, f"cubic:{final}"), final, rel_tol=1e-12)
    for k in range(1, rounds + 1):  # Zhu & Gupta: S * (1 - (1 - k/R)^3)
        assert math.isclose(reached[k], final * (1 - (1 - k / rounds) ** 3), rel_tol=1e-12)
    steps = np.diff(reached)
    assert np.all(steps[1:] < steps[:-1]), "large steps first"


def test_a_list_gives_one_rate_per_round_and_compounds():
    assert S.round_rates(0.2, 3, "0.6, 0.5,0.25") == (0.6, 0.5, 0.25)
    kept = [1.0, 0.4, 0.2, 0.15]
    for r in range(4):
        assert math.isclose(S.target_sparsity(0.2, 3, False, r, "0.6,0.5,0.25"), 1 - kept[r])


@pytest.mark.parametrize(
    "value, rounds",
    [("cubic:1.2", 3), ("cubic:0", 3), ("cubic:x", 3), ("0.5,0.5", 3), ("0.5,1.0,0.1", 3), ("fast", 3),
     ("0.5,nan,0.2", 3), ("cubic:0.9", 0)],
)
def test_config_refuses_a_bad_schedule_naming_the_key(value, rounds):
    with pytest.raises(LthError, match=r"prune\.rate_schedule .*; use constant, cubic:S"):
        C.resolve("smoke", overrides=[f"prune.rounds={rounds}", f"prune.rate_schedule={value}"])


def test_config_refuses_a_schedule_with_one_shot():
    with pytest.raises(LthError, match="rate_schedule.*one_shot"):
        C.resolve("smoke", overrides=["prune.one_shot=true", "prune.rate_schedule=cubic:0.9"])


def test_the_default_leaves_run_identity_alone():
    plain = C.resolve("smoke")
    assert "rate_schedule" not in plain.canonical()
    assert C.resolve("smoke", overrides=["prune.rate_schedule=constant"]).hash() == plain.hash()
    assert C.resolve("smoke", overrides=["prune.rate_schedule=0.5,0.5"]).hash() != plain.hash()


# -- the pruning step (TF, no training) --------------------------------------------------------
def test_each_round_and_its_early_bird_watch_prune_that_rounds_rate():
    from lth_tf.keras_side import models
    from lth_tf.keras_side import pruning as P
    from lth_tf.search import prune_step as step
    from lth_tf.search.plan import Plan

    exp = C.resolve("smoke", overrides=["prune.rounds=3", "prune.rate_schedule=0.6,0.3,0.1",
                                        "prune.early_bird=true", "prune.eb_window=1", "train.epochs=3"])
    plan = Plan.of(exp)
    wrapped = P.wrap(models.build(exp.model, (8, 8, 3), 10, 0))
    kernels = P.get_kernels(wrapped)
    ones = M.ones_like(kernels)
    total = sum(m.size for m in ones.values())
    for r, rate in enumerate((0.6, 0.3, 0.1), start=1):
        got = step.mask_rule(plan, wrapped, r)(kernels, ones)
        assert total - sum(int(m.sum()) for m in got.values()) == M.prune_count(rate, total), f"round {r}"
    # round 1's early-bird callback proposes what round 2 will take: rate 0.3
    watch = step.early_bird_stop(plan, wrapped, 1)
    got = watch.next_masks(kernels, ones)
    assert total - sum(int(m.sum()) for m in got.values()) == M.prune_count(0.3, total)
    assert step.early_bird_stop(plan, wrapped, 3) is None  # the ticket's round trains in full


# -- a real search -----------------------------------------------------------------------------
def _search(tmp_path, *sets):
    from lth_tf.core.events import ListSink
    from lth_tf.search.lottery import LotterySearch

    exp = C.resolve("smoke", overrides=["train.epochs=1", "prune.controls=", "model.width=4", *sets])
    sink = ListSink()
    s = LotterySearch(exp, out=tmp_path, sink=sink)
    for _ in s.rounds():
        pass
    return s, sink.events


@pytest.mark.slow  # three searches
def test_a_search_follows_its_schedule(tmp_path):
    rates = (0.7, 0.2)
    s, events = _search(tmp_path / "list", "prune.rounds=2", f"prune.rate_schedule={','.join(map(str, rates))}")
    masks0 = s.store.load_round(0)[1]
    remaining = sum(m.size for m in masks0.values())
    started = {e["round"]: e["target_sparsity"] for e in events if e["event"] == "round_started"}
    for r, rate in enumerate(rates, start=1):
        remaining -= M.prune_count(rate, remaining)  # global scope: exact counts
        masks = s.store.load_round(r)[1]
        assert sum(int(m.sum()) for m in masks.values()) == remaining, f"round {r}"
        assert math.isclose(started[r], 1 - math.prod(1 - x for x in rates[:r]))
    # the same rates as a constant schedule prune exactly the same weights
    c, _ = _search(tmp_path / "constant", "prune.rounds=2", "prune.rate=0.5")
    l2, _ = _search(tmp_path / "list2", "prune.rounds=2", "prune.rate_schedule=0.5,0.5")
    for r in (1, 2):
        mc, ml = c.store.load_round(r)[1], l2.store.load_round(r)[1]
        assert all(mc[k].tobytes() == ml[k].tobytes() for k in mc), f"round {r}"
