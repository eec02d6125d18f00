"""The lottery loop end to end: tiny real models trained through LotterySearch.

Each module-scoped run below trains a few rounds of a tiny model (seconds), and
the tests check the invariants of iterative magnitude pruning on what the run
stored, open_lth style: sparsity 1-(1-p)**r, nested masks, pruned weights exactly
0.0, every round starting from the right weights, one magnitude threshold per
pruning group, same seed -> same masks, resume, controls, summary and events.

A probe (LotterySearch's `callbacks_factory`) records the weights at the start of
every training, and in round 0 the weights after K optimizer steps, so the tests
compare against what the network really held rather than against the engine's
own bookkeeping.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from helpers.lottery import Probe, assert_all_differ, assert_starts_from, kept

from lth_tf.core import config as C
from lth_tf.core import masks as M
from lth_tf.core.errors import LthError
from lth_tf.core.schedule import expected_sparsity
from lth_tf.export.ticket import TicketExporter
from lth_tf.keras_side import pruning as P
from lth_tf.keras_side.training.callbacks import Stopped
from lth_tf.platform.backend import keras
from lth_tf.search.lottery import LotterySearch
from lth_tf.storage import rundir
from lth_tf.storage.summary import pick_winner

pytestmark = pytest.mark.slow  # five tiny searches (module fixtures), one stopped and resumed

STEP_K = 5  # rewind step of the layerwise run; round 0 has 19 steps

IMAGE = ["model.width=4", "train.epochs=1", "data.val_size=32", "train.batch_size=32"]
GLOBAL = C.resolve(
    "smoke",
    overrides=[
        *IMAGE,
        "prune.rounds=3",
        "prune.rate=0.4",
        "prune.controls=random_reinit,random_mask",
    ],
)
LAYERWISE = C.resolve(
    "smoke",
    overrides=[
        *IMAGE,
        "prune.rounds=2",
        "prune.rate=0.3",
        "prune.scope=layerwise",
        f"prune.rewind=step:{STEP_K}",
        "prune.layer_rates=output:0.25",
        "prune.controls=",
    ],
)
# GLOBAL with another seed; only its first pruning round is run.
FINETUNE = C.resolve(
    "smoke",
    overrides=[
        *IMAGE,
        "prune.rounds=3",
        "prune.rate=0.4",
        "prune.controls=random_reinit,random_mask",
        "prune.rewind=finetune",
        "seed=1",
    ],
)
GCN = C.resolve(
    "smoke",
    overrides=[
        "data.name=synthetic_graph",
        "model.name=gcn",
        "model.hidden=8",
        "train.epochs=8",
        "prune.rounds=2",
        "prune.rate=0.5",
        "prune.rewind=lr",
        "prune.controls=",
        "distill.enabled=true",
        "distill.alpha=0.7",
    ],
)
KD_KEYS = ("student_loss", "distill_loss", "teacher_loss")


# -- runs shared by the tests ------------------------------------------------------------------
@dataclass
class Run:
    search: LotterySearch
    probe: Probe | None = None
    yielded: list[int] = field(default_factory=list)
    summary: dict | None = None
    notes: dict = field(default_factory=dict)

    @property
    def exp(self) -> C.Experiment:
        return self.search.exp

    @property
    def last(self) -> int:
        return self.search.completed_rounds()[-1]

    def load(self, r: int):
        return self.search.store.load_round(r)

    def masks(self, r: int) -> dict[str, np.ndarray]:
        return self.load(r)[1]

    def layout(self) -> list[tuple[str, str]]:
        return self.probe.starts[(0, "round")].layout

    def kernels(self, weights: list[np.ndarray]) -> dict[str, np.ndarray]:
        return {name: w for (role, name), w in zip(self.layout(), weights) if role == "kernel"}

    def events(self) -> list[dict]:
        lines = rundir.events_path(self.search.run_dir).read_text().splitlines()
        return [json.loads(line) for line in lines]


def _run(exp, out: Path, probe: Probe | None = None, upto: int | None = None) -> Run:
    search = LotterySearch(exp, out=out, callbacks_factory=probe)
    run = Run(search, probe)
    rounds = search.rounds()
    for result in rounds:
        run.yielded.append(result.round)
        if result.round == upto:
            rounds.close()  # as a killed process would: the stored rounds stay
            break
    return run


@pytest.fixture(scope="module")
def global_run(tmp_path_factory) -> Run:
    """Global pruning, rewind to init, both controls, finished with its ticket."""
    run = _run(GLOBAL, tmp_path_factory.mktemp("global"), Probe())
    run.summary = run.search.finish(TicketExporter())
    return run


@pytest.fixture(scope="module")
def layerwise_run(tmp_path_factory) -> Run:
    """Layerwise pruning with the output layer at its own rate, rewind to step K."""
    return _run(LAYERWISE, tmp_path_factory.mktemp("layerwise"), Probe(step=STEP_K))


@pytest.fixture(scope="module")
def gcn_run(tmp_path_factory) -> Run:
    """The GCN on the synthetic graph: global pruning, lr rewinding, distillation."""
    return _run(GCN, tmp_path_factory.mktemp("gcn"), Probe())


@pytest.fixture(scope="module")
def finetune_run(tmp_path_factory) -> Run:
    """GLOBAL with seed 1 and fine-tuning; rounds 0 and 1 only."""
    return _run(FINETUNE, tmp_path_factory.mktemp("finetune"), Probe(), upto=1)


class _StopAfter(keras.callbacks.Callback):
    """Sets the search's stop event after `batches` training steps."""

    def __init__(self, stop: threading.Event, batches: int):
        super().__init__()
        self.stop, self.batches = stop, batches

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 >= self.batches:
            self.stop.set()


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory) -> tuple[Run, Run]:
    """GLOBAL in another folder: stopped in the middle of round 2, resumed by a new search."""
    out = tmp_path_factory.mktemp("resume")
    stop = threading.Event()

    def stop_in_round_2(r: int, kind: str) -> list:
        return [_StopAfter(stop, 3)] if r == 2 else []

    search = LotterySearch(GLOBAL, out=out, stop=stop, callbacks_factory=stop_in_round_2)
    first = Run(search)
    with pytest.raises(Stopped):
        for result in search.rounds():
            first.yielded.append(result.round)
    first.notes["rounds_dir"] = sorted(p.name for p in rundir.rounds_dir(search.run_dir).iterdir())
    first.notes["status"] = search.store.read_summary()["status"]
    second = _run(GLOBAL, out)
    return first, second


@pytest.fixture(params=["global", "layerwise", "gcn"])
def any_run(request) -> Run:
    return request.getfixturevalue(f"{request.param}_run")


# -- 1. sparsity --------------------------------------------------------------------------------
def test_layerwise_prunes_the_exact_count_per_layer_each_round(layerwise_run):
    run, p = layerwise_run, layerwise_run.exp.prune
    assert run.last == p.rounds
    masks0 = run.masks(0)
    assert all(np.all(m == 1.0) for m in masks0.values())
    remaining = {n: m.size for n, m in masks0.items()}
    for r in range(1, p.rounds + 1):
        masks = run.masks(r)
        for name, m in masks.items():
            rate = p.layer_rates.get(name, p.rate)
            remaining[name] -= M.prune_count(rate, remaining[name])
            assert int(np.count_nonzero(m)) == remaining[name], (r, name)
            # 1-(1-p)**r up to rounding: at most half a weight per round.
            frac = 1.0 - remaining[name] / m.size
            assert abs(frac - expected_sparsity(rate, r)) <= 0.5 * r / m.size + 1e-12
    assert remaining["output"] != round(masks0["output"].size * 0.7**2)  # its own rate applied


@pytest.mark.parametrize("name", ["global", "gcn"])
def test_global_prunes_the_exact_total_each_round(request, name):
    run = request.getfixturevalue(f"{name}_run")
    p = run.exp.prune
    assert run.last == p.rounds
    total = sum(m.size for m in run.masks(0).values())
    remaining = total
    for r in range(1, p.rounds + 1):
        masks = run.masks(r)
        remaining -= M.prune_count(p.rate, remaining)
        assert sum(kept(masks).values()) == remaining, r
        # within one weight per layer of 1-(1-p)**r
        assert abs(M.sparsity(masks) - expected_sparsity(p.rate, r)) <= len(masks) / total
    # Global, not layerwise: the layers end at different sparsities.
    assert len(set(M.layer_sparsity(run.masks(p.rounds)).values())) > 1


# -- 2 and 3. nested masks, pruned weights exactly zero -------------------------------------------
def test_masks_are_nested_and_shrink(any_run):
    prev = any_run.masks(0)
    for r in range(1, any_run.last + 1):
        masks = any_run.masks(r)
        assert list(masks) == list(prev)
        for name, m in masks.items():
            assert m.dtype == np.float32 and np.all((m == 0.0) | (m == 1.0))
            assert not np.any((m == 1.0) & (prev[name] == 0.0)), (
                f"round {r}: {name} revived a weight"
            )
        assert sum(kept(masks).values()) < sum(kept(prev).values())
        prev = masks


def test_masks_hold_through_training(any_run):
    """The masks a round trained with are the ones it stored: training never changes them."""
    for r in range(any_run.last + 1):
        start = any_run.probe.starts[(r, "round")]
        stored = any_run.masks(r)
        assert list(start.masks) == list(stored)
        for name in stored:
            np.testing.assert_array_equal(start.masks[name], stored[name])


def test_pruned_weights_are_exactly_zero_after_training(any_run):
    run = any_run
    for r in range(1, run.last + 1):
        weights, masks, _ = run.load(r)
        stored = run.kernels(weights)
        wrapped = run.search.model_for_round(r)
        plain = P.strip(wrapped)
        views = {"stored": stored, "wrapped": P.get_kernels(wrapped)}
        views["stripped"] = {n: plain.get_layer(n).get_weights()[0] for n in masks}
        for name, m in masks.items():
            np.testing.assert_array_equal(P.get_masks(wrapped)[name], m)
            for view, kernels in views.items():
                k = kernels[name]
                assert np.all(k[m == 0.0] == 0.0), f"round {r}, {view}: {name} pruned weights"
                # and only those: a trained kept weight is never exactly 0.0
                assert np.count_nonzero(k) == np.count_nonzero(m), f"round {r}, {view}: {name}"
                np.testing.assert_array_equal(k, stored[name])


# -- 4. where each round starts -------------------------------------------------------------------
def test_rewind_to_init_restores_every_weight_of_the_initial_network(global_run):
    run = global_run
    init = run.probe.starts[(0, "round")].weights
    rewind = run.search.store.load_rewind()
    lay = run.layout()
    for (role, name), a, b in zip(lay, rewind, init):
        if role in ("kernel", "plain"):
            np.testing.assert_array_equal(a, b, err_msg=f"rewind.npz: {name} is not its init")
    assert {name for role, name in lay if role == "plain"} >= {
        "bn1/gamma:0",
        "bn1/beta:0",
        "bn1/moving_mean:0",
        "bn1/moving_variance:0",
    }
    for r in range(1, run.last + 1):
        trained_before = run.load(r - 1)[0]
        assert_all_differ(trained_before, init, lay, f"round {r - 1} did not train")
        assert_starts_from(run.probe.starts[(r, "round")], init, run.masks(r), f"round {r}")


def test_rewind_to_step_k_uses_the_weights_after_k_steps(layerwise_run):
    run = layerwise_run
    snapshot = run.search.store.load_rewind()
    lay = run.layout()
    assert run.probe.at_step is not None, "round 0 never reached step K"
    for (role, name), a, b in zip(lay, snapshot, run.probe.at_step):
        if role in ("kernel", "plain"):
            np.testing.assert_array_equal(a, b, err_msg=f"rewind.npz: {name} is not at step K")
    init = run.probe.starts[(0, "round")].weights
    assert_all_differ(snapshot, init, lay, "the step-K snapshot equals init")
    assert_all_differ(snapshot, run.load(0)[0], lay, "the step-K snapshot equals round 0's end")
    for r in range(1, run.last + 1):
        assert_starts_from(run.probe.starts[(r, "round")], snapshot, run.masks(r), f"round {r}")


@pytest.mark.parametrize("name", ["gcn", "finetune"])
def test_lr_and_finetune_rounds_start_from_the_previous_trained_weights(request, name):
    run = request.getfixturevalue(f"{name}_run")
    assert run.exp.prune.rewind in ("lr", "finetune")
    init = run.probe.starts[(0, "round")].weights
    assert not rundir.rewind_path(run.search.run_dir).exists()
    for r in range(1, run.last + 1):
        trained_before = run.load(r - 1)[0]
        assert_all_differ(trained_before, init, run.layout(), f"round {r - 1} did not train")
        assert_starts_from(
            run.probe.starts[(r, "round")], trained_before, run.masks(r), f"round {r}"
        )


# -- 5. thresholds --------------------------------------------------------------------------------
def _magnitudes(run: Run, r: int, names):
    """|w| of round r-1's trained kernels: newly pruned in round r, and kept, over `names`."""
    weights, prev, _ = run.load(r - 1)
    kernels, masks = run.kernels(weights), run.masks(r)
    pruned = [np.abs(kernels[n][(prev[n] != 0) & (masks[n] == 0)]) for n in names]
    keep = [np.abs(kernels[n][masks[n] != 0]) for n in names]
    return np.concatenate(pruned), np.concatenate(keep)


@pytest.mark.parametrize("name", ["global", "gcn"])
def test_global_pruning_uses_one_threshold_across_layers(request, name):
    run = request.getfixturevalue(f"{name}_run")
    for r in range(1, run.last + 1):
        pruned, keep = _magnitudes(run, r, list(run.masks(r)))
        assert pruned.size and keep.size
        assert pruned.max() <= keep.min(), f"round {r}: a kept weight is smaller than a pruned one"


def test_layerwise_pruning_uses_one_threshold_per_layer(layerwise_run):
    run = layerwise_run
    for r in range(1, run.last + 1):
        for name in run.masks(r):
            pruned, keep = _magnitudes(run, r, [name])
            assert pruned.size and keep.size
            assert pruned.max() <= keep.min(), f"round {r}: {name}"


# -- 6 and 7. determinism and resume ----------------------------------------------------------------
def test_same_seed_gives_bit_identical_masks(global_run, resumed_run):
    first, _ = resumed_run  # same config, another folder; rounds 0 and 1 ran in one process
    assert first.search.run_dir != global_run.search.run_dir
    for name, m in global_run.masks(1).items():
        other = first.masks(1)[name]
        assert m.dtype == other.dtype and m.tobytes() == other.tobytes(), name


def test_another_seed_gives_other_masks(global_run, finetune_run):
    # Round 1's masks come from round 0 alone, which the rewind mode does not touch.
    assert finetune_run.exp.seed != global_run.exp.seed
    a, b = (run.probe.starts[(0, "round")] for run in (global_run, finetune_run))
    for (role, name), x, y in zip(a.layout, a.weights, b.weights):
        assert role != "kernel" or not np.array_equal(x, y), f"{name}: the same initial kernel"
    a, b = global_run.masks(1), finetune_run.masks(1)
    assert sum(kept(a).values()) == sum(kept(b).values())  # same count (sizes and rate) ...
    assert any(not np.array_equal(a[n], b[n]) for n in a)  # ... other weights


def test_resume_continues_after_the_last_round_and_ends_with_the_same_masks(
    global_run, resumed_run
):
    first, second = resumed_run
    assert not first.search.resumed and first.yielded == [0, 1]
    # The stopped round left nothing behind, and the run is not marked failed.
    assert first.notes == {"rounds_dir": ["000", "001"], "status": "running"}
    assert second.search.resumed and second.yielded == [2, 3]
    assert second.search.run_dir == first.search.run_dir
    for r in range(1, GLOBAL.prune.rounds + 1):
        for name, m in global_run.masks(r).items():
            assert m.tobytes() == second.masks(r)[name].tobytes(), (r, name)
    # Every round starts from a fresh, reseeded session: the weights match too.
    for a, b in zip(global_run.load(GLOBAL.prune.rounds)[0], second.load(GLOBAL.prune.rounds)[0]):
        np.testing.assert_array_equal(a, b)
    events = second.events()
    assert [e["resumed_from"] for e in events if e["event"] == "run_started"] == [None, 1]
    assert [e["round"] for e in events if e["event"] == "round_started"] == [0, 1, 2, 2, 3]
    assert "run_failed" not in {e["event"] for e in events}


def test_a_run_dir_refuses_another_experiment(resumed_run):
    _, run = resumed_run
    run_dir = run.search.run_dir
    other = C.resolve("smoke", overrides=[*IMAGE, "prune.rounds=3", "prune.rate=0.3"])
    with pytest.raises(LthError, match="different experiment"):
        LotterySearch(other, run_dir=run_dir)
    reopened = LotterySearch.open(run_dir)  # its own config.toml still rules
    assert reopened.resumed and reopened.exp.hash() == GLOBAL.hash()


# -- 8. controls ---------------------------------------------------------------------------------
def test_random_reinit_control_keeps_the_mask_with_new_weights(global_run):
    run, r = global_run, global_run.last
    start = run.probe.starts[(r, "random_reinit")]
    masks = run.masks(r)
    init = run.probe.starts[(0, "round")].weights
    for name in masks:
        np.testing.assert_array_equal(start.masks[name], masks[name])
    for (role, name), got, orig in zip(start.layout, start.weights, init):
        if role == "kernel":
            m = masks[name] != 0
            assert np.all(got[~m] == 0.0)
            assert not np.any(got[m] == orig[m]), f"{name}: a kept weight has its old init"
        elif role == "plain":  # biases and BatchNorm start from their (fixed) initialisers
            np.testing.assert_array_equal(got, orig, err_msg=name)


def test_random_mask_control_keeps_the_counts_at_random_positions(global_run):
    run, r = global_run, global_run.last
    start = run.probe.starts[(r, "random_mask")]
    masks = run.masks(r)
    assert kept(start.masks) == kept(masks)
    for name, m in masks.items():
        assert not np.array_equal(start.masks[name], m), f"{name}: the ticket's own mask"
    # the ticket's starting point (init), under the random mask
    init = run.probe.starts[(0, "round")].weights
    assert_starts_from(start, init, start.masks, "random_mask")


def test_controls_are_stored(global_run):
    run, r = global_run, global_run.last
    sparsity = run.search.store.round_metrics(r)["sparsity"]
    controls = {c["kind"]: c for c in run.summary["controls"]}
    assert set(controls) == {"random_reinit", "random_mask"}
    for kind, c in controls.items():
        assert c["round"] == r and c["sparsity"] == pytest.approx(sparsity)
        assert 0.0 <= c["test_acc"] <= 1.0 and 0.0 <= c["val_acc"] <= 1.0
        assert run.search.store.control_metrics(kind, r)["test_acc"] == c["test_acc"]


# -- 9. summary and events --------------------------------------------------------------------------
def test_summary_follows_the_contract(global_run):
    run, s = global_run, global_run.summary
    on_disk = json.loads(rundir.summary_path(run.search.run_dir).read_text())
    assert on_disk == s
    assert s["status"] == "finished"
    assert s["config_hash"] == GLOBAL.hash() and s["preset"] == "smoke"
    rounds = s["rounds"]
    assert [m["round"] for m in rounds] == list(range(GLOBAL.prune.rounds + 1))
    assert s["dense"] == {"val_acc": rounds[0]["val_acc"], "test_acc": rounds[0]["test_acc"]}
    for m in rounds:
        masks = run.masks(m["round"])
        assert set(m) >= {
            "round",
            "sparsity",
            "val_acc",
            "test_acc",
            "layer_sparsity",
            "seconds",
            "distill",
        }
        assert m["sparsity"] == M.sparsity(masks)
        assert m["layer_sparsity"] == M.layer_sparsity(masks)
        assert 0.0 <= m["val_acc"] <= 1.0 and 0.0 <= m["test_acc"] <= 1.0
        assert m["seconds"] > 0 and m["distill"] is None
    stored = [run.search.store.round_metrics(m["round"]) for m in rounds]
    decision = pick_winner(stored, GLOBAL.prune.tolerance, s["num_classes"], GLOBAL.planned_rounds)
    assert s["winner"] == decision.to_dict() and s["num_classes"] == run.search.data.num_classes
    if decision.round is None:
        assert s["ticket"] is None
    else:
        t = s["ticket"]
        winner = stored[decision.round]
        assert (t["round"], t["sparsity"], t["test_acc"]) == (
            winner["round"],
            winner["sparsity"],
            winner["test_acc"],
        )
        assert t["round"] >= 1 and (Path(t["path"]) / "saved_model.pb").is_file()


def test_events_come_in_order_with_their_fields(global_run):
    run, epochs, last = global_run, GLOBAL.train.epochs, GLOBAL.prune.rounds
    events = run.events()
    assert all(isinstance(e["time"], float) for e in events)
    names = [e["event"] for e in events if e["event"] != "ticket_exported"]
    per_round = ["round_started", *["epoch_end"] * epochs, "round_finished"]
    assert names == [
        "run_started",
        *per_round * (last + 1),
        "control_finished",
        "control_finished",
        "run_finished",
    ]
    by = {}
    for e in events:
        by.setdefault(e["event"], []).append(e)
    assert by["run_started"][0]["resumed_from"] is None
    assert by["run_started"][0]["rounds"] == last
    assert [e["round"] for e in by["round_started"]] == list(range(last + 1))
    assert [e["target_sparsity"] for e in by["round_started"]] == pytest.approx(
        [expected_sparsity(GLOBAL.prune.rate, r) for r in range(last + 1)]
    )
    assert [e["round"] for e in by["round_finished"]] == list(range(last + 1))
    assert [e["epoch"] for e in by["epoch_end"]] == list(range(1, epochs + 1)) * (last + 1)
    for e in by["epoch_end"]:
        assert all(math.isfinite(e[k]) for k in ("loss", "acc", "val_loss", "val_acc"))
    for e in by["round_finished"]:
        assert e["layer_sparsity"] == M.layer_sparsity(run.masks(e["round"]))
    assert [e["kind"] for e in by["control_finished"]] == list(GLOBAL.prune.controls)
    assert by["run_finished"][0]["ticket"] == run.summary["ticket"]
    if run.summary["ticket"] is not None:
        names = [e["event"] for e in events]
        assert names[-2:] == ["ticket_exported", "run_finished"]


# -- 10. the GCN with distillation --------------------------------------------------------------------
def test_gcn_with_distillation_reports_finite_losses(gcn_run):
    run = gcn_run
    finished = [e for e in run.events() if e["event"] == "round_finished"]
    assert [e["round"] for e in finished] == [0, 1, 2]
    assert finished[0]["distill"] is None
    for e in finished[1:]:
        d = e["distill"]
        assert set(d) == set(KD_KEYS) and all(math.isfinite(d[k]) for k in KD_KEYS), d
        assert d["distill_loss"] >= 0.0
        assert run.search.store.round_metrics(e["round"])["distill"] == d
    for e in run.events():
        if e["event"] == "epoch_end":
            assert all(k in e for k in KD_KEYS) == (e["round"] >= 1)
    # One teacher, so one teacher loss on the same training nodes.
    assert finished[1]["distill"]["teacher_loss"] == pytest.approx(
        finished[2]["distill"]["teacher_loss"]
    )


def test_gcn_teacher_is_the_dense_round_and_stays_frozen(gcn_run):
    run = gcn_run
    dense = P.strip(run.search.model_for_round(0)).get_weights()
    assert run.probe.starts[(0, "round")].teacher is None
    for r in (1, 2):
        start = run.probe.starts[(r, "round")]
        assert start.teacher is not None and len(start.teacher) == len(dense)
        for a, b, c in zip(start.teacher, dense, run.probe.teacher_end[(r, "round")]):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, c)
