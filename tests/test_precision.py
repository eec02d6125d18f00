"""mixed_bfloat16 and XLA keep the lottery exact: float32 masks and variables,
pruned weights exactly 0.0, and rewinding restores the initial weights bit for bit.

A tiny CNN runs two rounds through LotterySearch with the Keras policy set by
`runtime.apply_precision` (as the engine does before building models); a
callback records the weights each training starts from.
"""

from __future__ import annotations

import numpy as np
import pytest

from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.keras_side import pruning as P
from lth_tf.platform import runtime
from lth_tf.platform.backend import keras
from lth_tf.search.lottery import LotterySearch

TINY = ["model.width=4", "train.epochs=1", "data.val_size=32", "train.batch_size=32",
        "prune.rounds=1", "prune.rate=0.5", "prune.controls="]


class StartProbe(keras.callbacks.Callback):
    """Records the wrapped model's kernels and masks when a training begins."""

    def __init__(self, starts: dict, r: int):
        super().__init__()
        self.starts, self.r = starts, r

    def on_train_begin(self, logs=None):
        self.starts[self.r] = (P.get_kernels(self.model), P.get_masks(self.model),
                               [v.dtype.name for v in self.model.weights])


@pytest.fixture
def policy():
    yield runtime.apply_precision
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.slow  # a search per setting; XLA compiles each round
@pytest.mark.parametrize("setting", ["train.precision=mixed_bfloat16", "train.jit_compile=true"])
def test_rounds_stay_exact(tmp_path, policy, setting):
    exp = C.resolve("smoke", overrides=[*TINY, setting])
    starts: dict = {}
    search = LotterySearch(exp, out=tmp_path, callbacks_factory=lambda r, kind: [StartProbe(starts, r)])
    results = list(search.rounds())
    assert [r.round for r in results] == [0, 1]
    assert np.isfinite(results[1].val_acc)

    model = search.model_for_round(1)
    assert model.compute_dtype == runtime.compute_dtype(search.platform.precision)
    # variables (kernels, masks, BatchNorm statistics) stay float32 whatever the compute dtype
    assert set(starts[0][2]) <= {"float32", "int64", "int32"}, starts[0][2]

    init_kernels = starts[0][0]
    start_kernels, start_masks, _ = starts[1]
    _, stored_masks, _ = search.store.load_round(1)
    for name, m in stored_masks.items():
        assert m.dtype == np.float32 and set(np.unique(m)) <= {0.0, 1.0}
        assert 0 < m.sum() < m.size, f"{name}: round 1 pruned nothing or everything"
        # rewind to init: round 1 starts from the initial kernel times its mask, bit for bit
        np.testing.assert_array_equal(start_masks[name], m)
        np.testing.assert_array_equal(start_kernels[name], init_kernels[name] * m)
        # after training: pruned weights exactly 0.0, the kept ones trained (not 0.0)
        k = P.get_kernels(model)[name]
        assert k.dtype == np.float32
        assert np.all(k[m == 0.0] == 0.0) and np.count_nonzero(k) == np.count_nonzero(m), name
        assert not np.array_equal(k, start_kernels[name]), f"{name} did not train"


def test_a_model_built_in_another_precision_is_refused(tmp_path, policy):
    from lth_tf.keras_side import data as datasets
    from lth_tf.keras_side import models
    from lth_tf.keras_side.training.feeds import Feeds
    from lth_tf.keras_side.training.train import train_round

    exp = C.resolve("smoke", overrides=[*TINY, "train.precision=mixed_bfloat16"])
    data = datasets.load(exp.data, seed=0)
    wrapped = P.wrap(models.build(exp.model, data.input_shape, data.num_classes, 0))  # float32 policy
    with pytest.raises(LthError, match="train.precision"):
        train_round(wrapped, Feeds(data, exp.train.batch_size, 0), exp, 0)


# -- the run's speed settings: chosen once, recorded, kept on resume; the user's win ------------
def _cache_says(tmp_path, monkeypatch, exp, values: dict) -> None:
    """A `lth-tf tune` winner for `exp`'s workload on this CPU, in a private cache."""
    from lth_tf.platform import speed, tune_cache

    monkeypatch.setenv("LTH_CACHE_DIR", str(tmp_path / "cache"))
    tune_cache.store(speed.Cpu.read(), speed.Workload.of(exp), {"values": values, "measured": "test"})


def _runtime_events(run_dir) -> list[dict]:
    from lth_tf.storage import rundir

    return [e["runtime"] for e in rundir.read_events(run_dir) if e.get("event") == "run_started"]


def test_a_resume_keeps_the_settings_the_run_started_with(tmp_path, monkeypatch, policy):
    import json

    from lth_tf.storage import rundir

    exp = C.resolve("smoke", overrides=[*TINY])  # auto: the rules say float32 for the tiny CNN
    _cache_says(tmp_path, monkeypatch, exp, {"precision": "mixed_bfloat16"})  # this CPU's tune winner
    search = LotterySearch(exp, out=tmp_path / "runs")
    for r in search.rounds():
        break  # round 0 only: the process "dies" here
    recorded = json.loads(rundir.runtime_path(search.run_dir).read_text())
    assert recorded["precision"]["value"] == "mixed_bfloat16" and recorded["precision"]["source"] == "tune"
    assert search.model_for_round(0).compute_dtype == "bfloat16"

    # Later, the cache says float32 (another tune, or another machine): the resume keeps bfloat16.
    _cache_says(tmp_path, monkeypatch, exp, {"precision": "float32"})
    keras.mixed_precision.set_global_policy("float32")
    resumed = LotterySearch(exp, out=tmp_path / "runs")
    assert resumed.platform.precision == "mixed_bfloat16"
    assert [r.round for r in resumed.rounds()] == [1]
    assert resumed.model_for_round(1).compute_dtype == "bfloat16"
    first, second = _runtime_events(search.run_dir)
    assert first["chosen"]["precision"]["source"] == "tune"
    assert second["chosen"]["precision"] == {**first["chosen"]["precision"], "source": "run",
                                             "reason": "the run started with it (tune: lth-tf tune: test)"}
    assert json.loads(rundir.runtime_path(search.run_dir).read_text()) == recorded  # never rewritten

    # A platform made for other settings is refused before it trains the run.
    from lth_tf.platform.platform import Platform

    other = LotterySearch(exp, out=tmp_path / "runs", platform=Platform.from_settings(exp.train))
    with pytest.raises(LthError, match="started with train.precision = mixed_bfloat16"):
        next(other.rounds())


def test_the_users_precision_wins_over_the_tune_cache(tmp_path, monkeypatch, policy):
    exp = C.resolve("smoke", overrides=[*TINY, "train.precision=float32"])
    _cache_says(tmp_path, monkeypatch, exp, {"precision": "mixed_bfloat16"})
    search = LotterySearch(exp, out=tmp_path / "runs")
    assert search.platform.precision == "float32"
    assert search.platform.chosen.precision.source == "user"
    next(search.rounds())
    assert search.model_for_round(0).compute_dtype == "float32"


# -- distillation and loss scaling under bfloat16 ----------------------------------------------
def _mlp(seed: int, policy_name: str):
    keras.mixed_precision.set_global_policy(policy_name)
    keras.utils.set_random_seed(seed)
    inp = keras.Input((6,))
    h = keras.layers.Dense(16, activation="relu", name="hidden")(inp)
    h = keras.layers.BatchNormalization(name="bn")(h)
    return keras.Model(inp, keras.layers.Dense(3, name="output")(h))


def _blobs(n: int = 64):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = (rng.normal(0, 2, (3, 6))[y] + rng.normal(0, 1, (n, 6))).astype("float32")
    return x, y.astype("int64")


def test_the_kd_teacher_stays_frozen_and_the_losses_float32_under_bfloat16(policy):
    from lth_tf.keras_side.training.distill import Distiller

    x, y = _blobs()
    teacher, student = _mlp(1, "mixed_bfloat16"), _mlp(2, "mixed_bfloat16")
    assert teacher.compute_dtype == student.compute_dtype == "bfloat16"
    before = [w.copy() for w in teacher.get_weights()]  # BatchNorm statistics included
    d = Distiller(student, teacher, alpha=0.5, temperature=2.0)
    d.compile(keras.optimizers.SGD(0.1))
    # bfloat16 has float32's exponent range: Keras adds no loss scaling (only mixed_float16 needs it)
    assert not isinstance(d.optimizer, keras.mixed_precision.LossScaleOptimizer)
    hist = d.fit(x, y, batch_size=16, epochs=6, verbose=0, shuffle=False).history
    assert all(np.array_equal(a, b) for a, b in zip(before, teacher.get_weights(), strict=True))
    assert all(np.isfinite(v).all() for v in hist.values())
    assert hist["distill_loss"][-1] < hist["distill_loss"][0]
    assert all(w.dtype == "float32" for w in student.weights)  # variables stay float32


def test_a_loss_scale_optimizer_takes_the_same_step_under_bfloat16(policy):
    """Distiller.train_step minimizes through the optimizer, so a user's LossScaleOptimizer
    scales and unscales: the same step as the plain optimizer (a power-of-two scale is exact)."""
    from lth_tf.keras_side.training.distill import Distiller

    x, y = _blobs(16)
    steps = {}
    for name, opt in (("plain", keras.optimizers.SGD(0.1)),
                      ("scaled", keras.mixed_precision.LossScaleOptimizer(keras.optimizers.SGD(0.1)))):
        d = Distiller(_mlp(2, "mixed_bfloat16"), _mlp(1, "mixed_bfloat16"), alpha=0.5, temperature=2.0)
        d.compile(opt)
        d.train_on_batch(x, y)
        steps[name] = d.student.get_weights()
    for a, b in zip(steps["plain"], steps["scaled"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_kd_round_under_bfloat16_keeps_masks_exact(tmp_path, policy):
    exp = C.resolve("smoke", overrides=[*TINY, "train.precision=mixed_bfloat16", "distill.enabled=true"])
    search = LotterySearch(exp, out=tmp_path)
    results = list(search.rounds())
    assert results[1].distill and all(np.isfinite(v) for v in results[1].distill.values())
    _, masks, _ = search.store.load_round(1)
    kernels = P.get_kernels(search.model_for_round(1))
    for name, m in masks.items():
        assert np.all(kernels[name][m == 0.0] == 0.0)


def test_masking_keeps_the_float32_weights_under_bfloat16(policy):
    """tfmot assigns weight * mask in every call; under mixed_bfloat16 it multiplied the
    bfloat16 copies a layer reads, rounding the float32 master weights each step
    (lth_tf/keras_side/pruning/mask_op.py). The product is now taken in float32."""
    from lth_tf.platform.backend import tf

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    inp = keras.Input((8,))
    wrapped = P.wrap(keras.Model(inp, keras.layers.Dense(4, name="output")(inp)))
    kernel = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    mask = (np.arange(32).reshape(8, 4) % 3 > 0).astype(np.float32)
    P.set_kernels(wrapped, {"output": kernel})
    P.set_masks(wrapped, {"output": mask})
    for layer in wrapped.layers:
        if hasattr(layer, "pruning_step"):
            layer.pruning_step.assign(1)  # as UpdatePruningStep does before a step
    out = tf.function(lambda x: wrapped(x, training=True))(np.ones((2, 8), np.float32))
    assert out.dtype == tf.bfloat16  # still computed in bfloat16
    after = P.get_kernels(wrapped)["output"]
    np.testing.assert_array_equal(after, kernel * mask)  # float32, not rounded to bfloat16
    assert not np.array_equal(after, tf.cast(tf.cast(kernel * mask, tf.bfloat16), tf.float32).numpy())
