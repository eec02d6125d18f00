"""Lottery-search helpers: a probe of what each training began from, and the IMP invariants.

The probe (LotterySearch's `callbacks_factory`) records the weights at the start of
every training, and in round 0 the weights after K optimizer steps, so tests compare
against what the network really held rather than against the engine's bookkeeping.
`check_search` holds a finished global, rewind-to-init search to the rules every
model the engine takes must keep (registry models, Python API, file:, py:, folder:,
Citeseer): global sparsity 1-(1-p)**r with exact survivor counts, nested masks,
pruned weights exactly 0.0, and every pruned round starting from the rewind point
masked by its masks. `first_stop` is the early-bird rule, written out plainly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lth_tf.core import masks as M
from lth_tf.core.schedule import expected_sparsity
from lth_tf.keras_side import pruning as P
from lth_tf.platform.backend import keras


# -- the probe ---------------------------------------------------------------------------------
@dataclass
class Start:
    """What the wrapped model held when one training began."""

    layout: list[tuple[str, str]]  # per weight: (role, layer or variable name)
    weights: list[np.ndarray]
    masks: dict[str, np.ndarray]
    teacher: list[np.ndarray] | None


def layout(model) -> list[tuple[str, str]]:
    """(role, name) of each of `model.get_weights()`: kernel, mask, tfmot or plain.

    "kernel"/"mask" carry the pruned layer's name; "tfmot" is the wrappers'
    threshold and step bookkeeping; "plain" (biases, BatchNorm gamma/beta and
    moving statistics) is never masked.
    """
    roles = {}
    for w in P.wrappers(model):
        kernel, mask, threshold = w.pruning_vars[0]
        roles[kernel.ref()] = ("kernel", w.layer.name)
        roles[mask.ref()] = ("mask", w.layer.name)
        roles[threshold.ref()] = ("tfmot", w.layer.name)
        roles[w.pruning_step.ref()] = ("tfmot", w.layer.name)
    return [roles.get(v.ref(), ("plain", v.name)) for v in model.weights]


class Probe:
    """A `callbacks_factory` that records the weights at the start of each training."""

    def __init__(self, step: int | None = None):
        self.step = step
        self.starts: dict[tuple[int, str], Start] = {}
        self.teacher_end: dict[tuple[int, str], list[np.ndarray]] = {}
        self.at_step: list[np.ndarray] | None = None  # round 0 after `step` updates

    def __call__(self, r: int, kind: str) -> list:
        return [_ProbeCallback(self, r, kind)]


class _ProbeCallback(keras.callbacks.Callback):
    def __init__(self, probe: Probe, r: int, kind: str):
        super().__init__()
        self.probe, self.key = probe, (r, kind)

    def _student(self):
        return getattr(self.model, "student", self.model)

    def on_train_begin(self, logs=None):
        student = self._student()
        teacher = getattr(self.model, "teacher", None)
        self.probe.starts[self.key] = Start(
            layout=layout(student),
            weights=student.get_weights(),
            masks=P.get_masks(student),
            teacher=teacher.get_weights() if teacher is not None else None,
        )

    def on_train_batch_begin(self, batch, logs=None):
        p = self.probe
        if p.step is None or self.key != (0, "round") or p.at_step is not None:
            return
        if int(self.model.optimizer.iterations.numpy()) == p.step:
            p.at_step = self._student().get_weights()

    def on_train_end(self, logs=None):
        teacher = getattr(self.model, "teacher", None)
        if teacher is not None:
            self.probe.teacher_end[self.key] = teacher.get_weights()


# -- assertions --------------------------------------------------------------------------------
def assert_starts_from(start: Start, point: list[np.ndarray], masks: dict, what: str) -> None:
    """`start` is `point` with its kernels masked by `masks`, and holds `masks`."""
    assert len(start.weights) == len(point), what
    seen = set()
    for (role, name), got, want in zip(start.layout, start.weights, point):
        seen.add(role)
        if role == "kernel":
            np.testing.assert_array_equal(got, want * masks[name], err_msg=f"{what}: {name} kernel")
        elif role == "mask":
            np.testing.assert_array_equal(got, masks[name], err_msg=f"{what}: {name} mask")
        elif role == "plain":
            np.testing.assert_array_equal(got, want, err_msg=f"{what}: {name}")
    assert {"kernel", "mask", "plain"} <= seen


def assert_all_differ(a: list[np.ndarray], b: list[np.ndarray], lay, what: str) -> None:
    """Every kernel and plain weight differs between `a` and `b` (so a check is not vacuous)."""
    for (role, name), x, y in zip(lay, a, b):
        if role in ("kernel", "plain"):
            assert not np.array_equal(x, y), f"{what}: {name} is the same in both"


def kept(masks: dict[str, np.ndarray]) -> dict[str, int]:
    return {n: int(np.count_nonzero(m)) for n, m in masks.items()}



# -- a finished search -------------------------------------------------------------------------
def check_search(store, prune, probe: Probe) -> None:
    """`store` holds rounds 0..prune.rounds of a global, rewind-to-init search."""
    done = store.completed_rounds()
    assert done == list(range(prune.rounds + 1))
    masks0 = store.load_round(0)[1]
    assert masks0 and all(np.all(m == 1.0) for m in masks0.values())
    total = sum(m.size for m in masks0.values())
    remaining = total
    rewind_point = store.load_rewind()
    # Round 0 started from theta0: the rewind point (init) is what round 0 began with.
    start0 = probe.starts[(0, "round")]
    for got, want in zip(start0.weights, rewind_point, strict=True):
        np.testing.assert_array_equal(got, want)
    for r in range(1, prune.rounds + 1):
        weights, masks, _ = store.load_round(r)
        remaining -= M.prune_count(prune.rate, remaining)
        assert sum(kept(masks).values()) == remaining, r
        assert abs(M.sparsity(masks) - expected_sparsity(prune.rate, r)) <= len(masks) / total
        # Nested: a weight pruned once stays pruned.
        prev = store.load_round(r - 1)[1]
        assert all(np.all(masks[n] <= prev[n]) for n in masks)
        assert_starts_from(probe.starts[(r, "round")], rewind_point, masks, f"round {r}")
        # Pruned weights are exactly 0.0 in the stored, trained round.
        lay = probe.starts[(r, "round")].layout
        for (role, name), w in zip(lay, weights, strict=True):
            if role == "kernel":
                assert np.all(w[masks[name] == 0] == 0.0), (r, name)


# -- early bird --------------------------------------------------------------------------------
def first_stop(distances: list[float], threshold: float, window: int) -> int | None:
    """The 1-based epoch the rule should stop after: the first whose last `window` distances are all < threshold."""
    for i in range(window, len(distances) + 1):
        if all(d < threshold for d in distances[i - window : i]):
            return i + 1  # distance i-1 (0-based) is measured at epoch i + 1
    return None
