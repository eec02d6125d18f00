"""Checks that need the model's layers, run before a run directory is created.

`config.validate` checks every value on its own; what it cannot know is which
layers a model has. `check_layers` (pure, no TensorFlow) takes the prunable
layers and their kernel sizes; `check_model` builds the model once to get them.
Both raise `LthError` with one line naming the value and the fix.

A per-layer rate that empties a whole layer is an error, not a warning: an empty
kernel cuts the network (every later round trains a model that cannot learn), so
all the compute after that round would be wasted. Layers whose rate comes from
`scope = "layerwise"` or `prune.layer_rates` are predicted exactly (their counts
do not depend on the weights); layers in the shared global group are not
predictable before training and are not checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lth_tf.core import config as C
from lth_tf.core import criteria
from lth_tf.core import masks as M
from lth_tf.core.errors import LthError
from lth_tf.core.schedule import CONSTANT, expected_sparsity
from lth_tf.search.plan import Plan


def check_layers(exp: C.Experiment, layer_sizes: Mapping[str, int]) -> None:
    """Check `prune.layer_rates` and `prune.exclude` against the model's prunable layers.

    `layer_sizes` maps each prunable layer's name to its kernel's number of
    weights, in model order (what `prunable_layer_sizes` returns).
    """
    p = exp.prune
    names = list(layer_sizes)
    known = ", ".join(names) or "none"
    for key, given in (("prune.exclude", p.exclude), ("prune.layer_rates", p.layer_rates)):
        for name in given:
            if name not in layer_sizes:
                raise LthError(
                    f"{key} names layer {name!r}, which model {exp.model.name!r} does not have "
                    f"(or cannot prune); its prunable layers are: {known}"
                )
    if names and all(n in p.exclude for n in names):
        raise LthError(
            f"prune.exclude excludes every prunable layer of {exp.model.name!r} ({known}); "
            "leave at least one layer to prune"
        )
    emptied = []  # (round, model position, message, fix) of each layer that empties
    # A criterion removing whole channels keeps one per layer: no layer empties.
    for i, name in enumerate([] if criteria.get(p.structure).channels else names):
        if name in p.exclude:
            continue
        if name in p.layer_rates:  # a layer's own rate applies every round, whatever the schedule
            rates, key = p.layer_rates[name], f"prune.layer_rates[{name!r}] = {p.layer_rates[name]}"
            fix = "lower that rate or --rounds"
        elif p.scope == "layerwise":
            rates, key = scheduled_rates(exp), f"prune.rate {p.rate} (layerwise)"
            fix = "lower that rate or --rounds"
            if p.rate_schedule != CONSTANT:
                key = f"prune.rate_schedule {p.rate_schedule!r} (layerwise)"
                fix = "plan a lower sparsity in prune.rate_schedule"
        else:
            continue  # the global group: counts depend on the trained weights
        r = emptied_at(layer_sizes[name], rates, exp)
        if r is not None:
            what = f"layer {name!r} ({layer_sizes[name]} weights)"
            emptied.append((r, i, f"{key} prunes every weight of {what} by round {r}", fix))
    if emptied:
        r, _, message, fix = min(emptied)
        raise LthError(f"{message} of {exp.planned_rounds}; {fix}")


def scheduled_rates(exp: C.Experiment) -> float | tuple[float, ...]:
    """What a layerwise layer is pruned at: the plan's rate of each round (prune.rate_schedule).

    One-shot prunes once to a final sparsity derived from prune.rate (no schedule), so its
    rate stays a single number.
    """
    if exp.prune.one_shot:
        return exp.prune.rate
    plan = Plan.of(exp)
    return tuple(plan.round_rate(r) for r in range(1, exp.planned_rounds + 1))


def emptied_at(size: int, rates: float | Sequence[float], exp: C.Experiment) -> int | None:
    """The first round after which a layer of `size` weights has none left.

    `rates`: one rate for every round, or round 1..R's rates (`scheduled_rates`).
    Counts as `masks.prune` (IMP) and `masks.prune_to_sparsity` (one-shot) do.
    None if the layer keeps weights to the last planned round.
    """
    if isinstance(rates, (int, float)):
        rates = (rates,) * exp.planned_rounds
    if size <= 0 or not rates:
        return None
    if exp.prune.one_shot:
        target = expected_sparsity(rates[0], exp.prune.rounds)
        return 1 if round(target * size) >= size else None
    remaining = size
    for r, rate in enumerate(rates[: exp.planned_rounds], start=1):
        remaining -= M.prune_count(rate, remaining)
        if remaining == 0:
            return r
    return None


def prunable_layer_sizes(model: Any) -> dict[str, int]:
    """{mask key: weight count} of what pruning would mask in a plain Keras model.

    Read from a wrapped copy, so every layer kind tfmot prunes (separable convs'
    pointwise kernels, RNN kernels, ...) counts exactly what its masks cover; a
    layer's first pruned weight is keyed by the layer's name.
    """
    from lth_tf.keras_side import pruning as P

    kernels = P.get_kernels(P.wrap(model))
    return {key: int(k.size) for key, k in kernels.items()}


def check_model(exp: C.Experiment, data: Any) -> None:
    """Build the model once (no training) and run `check_layers` on it.

    Needs TensorFlow; the Keras session is cleared afterwards, so the search
    that follows builds from a clean state.
    """
    from lth_tf.keras_side import models
    from lth_tf.platform.backend import keras

    model = models.build(exp.model, data.input_shape, data.num_classes, exp.seed)
    try:
        check_layers(exp, prunable_layer_sizes(model))
        if criteria.get(exp.prune.structure).channels:
            check_channels(exp, model)
    finally:
        del model
        keras.backend.clear_session()


def check_channels(exp: C.Experiment, model: Any) -> None:
    """With a criterion removing whole channels, refuse a model where no channel can go whole."""
    from lth_tf.keras_side import pruning as P

    if not P.prunable_channels(model, exp.prune.exclude):
        why = "; ".join(f"{u['name']}: {u['reason']}" for u in P.unpruned_channels(model, exp.prune.exclude)[:3])
        raise LthError(
            f"prune.structure={exp.prune.structure}: model {exp.model.name!r} has no layer whose channels can be "
            f"pruned whole ({why or 'no Dense, Conv or GCN layer'}); use prune.structure=weights"
        )
