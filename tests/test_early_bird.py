"""Early-bird rounds: the mask distance, the stopping rule, the callback, and the config keys.

The engine-level checks (a real search stops its middle rounds by this rule, the
dense round and the ticket train in full, GCN + KD too) are in
tests/test_cost_engine.py; resuming is in tests/test_resume_early_bird.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers.lottery import first_stop
from hypothesis import given, settings
from hypothesis import strategies as st

from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.core.masks.early_bird import EarlyBird, mask_distance


# -- the distance ------------------------------------------------------------------------------
def test_mask_distance_by_hand():
    a = {"d": np.array([[1, 1, 0], [1, 0, 0]], np.float32), "o": np.array([1, 1], np.float32)}
    b = {"d": np.array([[1, 0, 1], [1, 0, 0]], np.float32), "o": np.array([1, 0], np.float32)}
    # positions that differ: d[0,1], d[0,2], o[1] -> 3 of 8
    assert mask_distance(a, b) == 3 / 8
    # over the weights alive in `alive`: d alive at (0,0),(0,1),(1,0),(1,1) -> d[0,1] differs;
    # o fully alive -> o[1] differs; 2 of 6
    alive = {"d": np.array([[1, 1, 0], [1, 1, 0]], np.float32), "o": np.ones(2, np.float32)}
    assert mask_distance(a, b, alive) == 2 / 6
    assert mask_distance(a, a) == 0.0
    assert mask_distance(a, b) == mask_distance(b, a)


def test_mask_distance_refuses_masks_of_different_layers_or_shapes():
    with pytest.raises(ValueError, match="different layers"):
        mask_distance({"a": np.ones(2)}, {"b": np.ones(2)})
    with pytest.raises(ValueError, match="shapes"):
        mask_distance({"a": np.ones(2)}, {"a": np.ones(3)})


# -- the rule ----------------------------------------------------------------------------------
def _masks_with_distances(distances: list[float], n: int = 100) -> list[dict[str, np.ndarray]]:
    """A sequence of masks whose consecutive distances (over n weights) are `distances`."""
    m = np.ones(n, np.float32)
    seq = [{"k": m.copy()}]
    for d in distances:
        flip = round(d * n)
        m = m.copy()
        m[:flip] = 1 - m[:flip]
        seq.append({"k": m.copy()})
    return seq


def test_rule_stops_exactly_when_the_window_is_below_threshold():
    rule = EarlyBird(threshold=0.1, window=2)
    stable = []
    for masks in _masks_with_distances([0.5, 0.05, 0.5, 0.05, 0.05, 0.5]):
        rule.observe(masks)
        stable.append(rule.stable)
    # epochs 1..7; distances at epochs 2..7 are .5 .05 .5 .05 .05 .5
    assert stable == [False, False, False, False, False, True, False]
    assert rule.distances == [0.5, 0.05, 0.5, 0.05, 0.05, 0.5]


def test_rule_never_stops_at_or_above_threshold():
    rule = EarlyBird(threshold=0.1, window=1)
    for masks in _masks_with_distances([0.1, 0.2, 0.1]):
        rule.observe(masks)
        assert not rule.stable  # "below" is strict


@settings(deadline=None)  # max_examples: the Hypothesis profile (tests/conftest.py)
@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=12),
    st.integers(1, 20),
    st.integers(1, 4),
)
def test_rule_agrees_with_the_definition(flips, threshold_flips, window):
    distances = [f / 100 for f in flips]
    threshold = threshold_flips / 100
    rule = EarlyBird(threshold, window)
    fired = None
    for epoch, masks in enumerate(_masks_with_distances(distances), start=1):
        rule.observe(masks)
        if rule.stable and fired is None:
            fired = epoch
    assert fired == first_stop(distances, threshold, window)


# -- the Keras callback, in a real fit ----------------------------------------------------------
class ScriptedMasks:
    """A `next_masks` rule that ignores the kernels and replays a list of masks.

    The one masked layer (100 weights, all alive) takes the scripted mask.
    """

    def __init__(self, seq):
        self.seq, self.i = seq, 0

    def __call__(self, kernels, masks):
        flat = self.seq[min(self.i, len(self.seq) - 1)]["k"]
        self.i += 1
        ((name, m),) = masks.items()
        full = np.ones(m.size, np.float32)
        full[: flat.size] = flat
        return {name: full.reshape(m.shape)}


def _tiny_fit(distances: list[float], epochs: int, threshold: float, window: int) -> tuple[int, list]:
    from lth_tf.keras_side import pruning as P
    from lth_tf.platform.backend import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(25, name="output")(inp))  # 100 kernel weights
    wrapped = P.wrap(model)
    wrapped.compile(optimizer="sgd", loss="mse")
    seq = _masks_with_distances(distances, n=100)
    stop = P.EarlyBirdStop(wrapped, ScriptedMasks(seq), threshold, window)
    logs: list[dict] = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, lg: logs.append(dict(lg)))
    x, y = np.zeros((8, 4), np.float32), np.zeros((8, 25), np.float32)
    wrapped.fit(x, y, epochs=epochs, verbose=0, callbacks=[*P.callbacks(), stop, record])
    return len(logs), logs


def test_callback_stops_fit_when_and_only_when_the_rule_holds():
    distances = [0.5, 0.05, 0.5, 0.05, 0.05, 0.5, 0.5, 0.5, 0.5]
    ran, logs = _tiny_fit(distances, epochs=10, threshold=0.1, window=2)
    assert ran == first_stop(distances, 0.1, 2) == 6
    # the distance is in the epoch's logs (so in epoch_end events), from epoch 2 on
    assert "mask_distance" not in logs[0]
    assert [round(lg["mask_distance"], 6) for lg in logs[1:]] == distances[:5]

    never = [0.5, 0.05, 0.5, 0.05, 0.5, 0.05, 0.5, 0.05, 0.5]
    assert first_stop(never, 0.1, 2) is None
    ran, _ = _tiny_fit(never, epochs=10, threshold=0.1, window=2)
    assert ran == 10


# -- config ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sets, words",
    [
        (["prune.eb_distance=0"], "prune.eb_distance 0.0 is outside (0, 1]"),
        (["prune.eb_distance=1.5"], "prune.eb_distance 1.5 is outside (0, 1]"),
        (["prune.eb_window=0"], "prune.eb_window 0 must be at least 1"),
        (["prune.early_bird=true", "prune.eb_window=5", "train.epochs=6"], "leaves no room"),
        (["prune.early_bird=true", "prune.one_shot=true"], "one_shot has none"),
    ],
)
def test_config_refuses_bad_early_bird_settings_in_one_line(sets, words):
    with pytest.raises(LthError) as e:
        C.resolve("smoke", overrides=sets)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_config_defaults_leave_the_run_hash_alone():
    plain = C.resolve("smoke")
    same = C.resolve("smoke", overrides=["prune.early_bird=false", "prune.eb_distance=0.1", "prune.eb_window=5"])
    assert plain.hash() == same.hash()
    eb = C.resolve("smoke", overrides=["prune.early_bird=true", "train.epochs=8"])
    assert eb.prune.early_bird and eb.hash() != C.resolve("smoke", overrides=["train.epochs=8"]).hash()


@pytest.mark.parametrize("epochs, window", [(6, 5), (2, 1), (3, 4)])
def test_eb_window_error_suggests_settings_that_are_accepted(epochs, window):
    """Each `--set` the message proposes, applied alone, makes the config valid."""
    base = ["prune.early_bird=true", f"prune.eb_window={window}", f"train.epochs={epochs}"]
    with pytest.raises(LthError) as e:
        C.resolve("smoke", overrides=base)
    fixes = re.findall(r"--set (\S+)", str(e.value))
    assert fixes
    for fix in fixes:
        C.resolve("smoke", overrides=[*base, fix])
