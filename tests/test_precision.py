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
    policy(exp.train.precision)
    starts: dict = {}
    search = LotterySearch(exp, out=tmp_path, callbacks_factory=lambda r, kind: [StartProbe(starts, r)])
    results = list(search.rounds())
    assert [r.round for r in results] == [0, 1]
    assert np.isfinite(results[1].val_acc)

    model = search.model_for_round(1)
    assert model.compute_dtype == runtime.compute_dtype(exp.train.precision)
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
