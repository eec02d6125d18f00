"""`validate`: every check of a value a user may get wrong, in one function."""

from __future__ import annotations

import re

from lth_tf.core import criteria, rewind, schedule, sources
from lth_tf.core.config.experiment import Experiment
from lth_tf.core.config.presets import preset_names
from lth_tf.core.config.schema import (
    AUTO,
    CONTROL_KINDS,
    DATASETS,
    GRAPH_DATASETS,
    GRAPH_MODELS,
    LIMITS,
    MODELS,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    SCOPES,
    SEED_MAX,
    STRUCTURES,
)
from lth_tf.core.config.strategy import parse_strategy
from lth_tf.core.errors import LthError


def validate(exp: Experiment) -> Experiment:
    """Check values a user may get wrong; raise LthError naming value and fix."""
    d, m, t, p, k = exp.data, exp.model, exp.train, exp.prune, exp.distill
    if not 0 <= exp.seed <= SEED_MAX:
        raise LthError(
            f"seed {exp.seed} is outside 0..{SEED_MAX} (numpy's seed range; TensorFlow's is wider); "
            "use e.g. --seed 0"
        )
    for key, most in LIMITS.items():
        section, name = key.split(".")
        value = getattr(getattr(exp, section), name)
        if value > most:
            raise LthError(f"{key} {value} is more than {most}, the most lth-tf accepts; use a smaller value")
    if sources.is_user_data(d.name):
        if d.name != sources.PYTHON:
            sources.data_folder(d.name)
    elif d.name not in DATASETS:
        raise LthError(
            f"No such dataset: {d.name!r}; use data.name = one of {', '.join(DATASETS)} or folder:PATH"
        )
    if sources.is_user_model(m.name):
        if m.name.startswith(sources.FILE):
            sources.model_file(m.name)
        else:
            sources.factory_parts(m.name)
    elif m.name not in MODELS:
        raise LthError(
            f"No such model: {m.name!r}; use model.name = one of {', '.join(MODELS)}, "
            "file:PATH or py:module:function"
        )
    if m.width < 1:
        raise LthError(f"model.width {m.width} must be at least 1; use e.g. --set model.width=16")
    if m.hidden < 1:
        raise LthError(f"model.hidden {m.hidden} must be at least 1; use e.g. --set model.hidden=16")
    if not 0.0 <= m.dropout < 1.0:  # 1.0 drops every input: the model learns nothing
        raise LthError(f"model.dropout {m.dropout} is outside [0, 1); use e.g. --set model.dropout=0.5")
    if m.l2 < 0:
        raise LthError(f"model.l2 {m.l2} is negative; use 0 (none) or e.g. --set model.l2=5e-4")
    if d.image_size < 8:
        raise LthError(f"data.image_size {d.image_size} is too small; use e.g. 32")
    # A user's model may fit either kind of data; a registry model fits one.
    if not sources.is_user_model(m.name) and (m.name in GRAPH_MODELS) != (d.name in GRAPH_DATASETS):
        kind = "graph" if d.name in GRAPH_DATASETS else "image"
        fits = GRAPH_MODELS if kind == "graph" else [x for x in MODELS if x not in GRAPH_MODELS]
        raise LthError(
            f"model {m.name!r} does not fit the {kind} dataset {d.name!r}; "
            f"use model.name = one of {', '.join(fits)}"
        )
    if not 0.0 < p.rate < 1.0:
        raise LthError(f"prune.rate {p.rate} is outside (0, 1); use e.g. --set prune.rate=0.2")
    for name, rate in p.layer_rates.items():
        if not 0.0 <= rate < 1.0:
            raise LthError(f"prune.layer_rates[{name!r}] = {rate} is outside [0, 1); use e.g. {name}:0.1")
    if p.rounds < 0:
        raise LthError(f"prune.rounds {p.rounds} is negative; use --rounds 0 or more")
    if p.scope not in SCOPES:
        raise LthError(f"prune.scope {p.scope!r} is unknown; use global or layerwise")
    if p.structure not in STRUCTURES:
        raise LthError(f"prune.structure {p.structure!r} is unknown; use {_one_of(STRUCTURES)}")
    if criteria.get(p.structure).channels and p.layer_rates:
        per_weight = [n for n, c in criteria.CRITERIA.items() if not c.channels]
        raise LthError(
            f"prune.layer_rates works with prune.structure={_one_of(per_weight)} only; "
            "drop layer_rates or use prune.exclude to keep a layer's channels"
        )
    try:
        rewind.parse(p.rewind)
    except ValueError:
        raise LthError(f"prune.rewind {p.rewind!r} is unknown; use {rewind.usage()}") from None
    for c in p.controls:
        if c not in CONTROL_KINDS:
            raise LthError(f"prune.controls: {c!r} is unknown; use {' and/or '.join(CONTROL_KINDS)}")
    if p.control_rounds not in ("last", "all") and not re.fullmatch(r"\d+(,\d+)*", p.control_rounds):
        raise LthError(
            f"prune.control_rounds {p.control_rounds!r} is unknown; use last, all or e.g. 3,5"
        )
    explicit = exp.control_round_list() if p.control_rounds not in ("last", "all") else []
    for r in explicit:
        if not 1 <= r <= exp.planned_rounds:
            raise LthError(
                f"prune.control_rounds {p.control_rounds!r} names round {r}, but the pruned rounds "
                f"are 1..{exp.planned_rounds}; use last, all or rounds in that range"
            )
    if exp.preset is not None and exp.preset not in preset_names():
        # The label names the run directory: only a shipped preset's name, never a path.
        raise LthError(
            f"preset {exp.preset!r} is not a preset name; use --preset with one of "
            f"{', '.join(preset_names())} (or leave preset unset)"
        )
    if not 0 <= p.tolerance <= 1:  # a fraction of accuracy (1: every round matches); NaN fails too
        raise LthError(f"prune.tolerance {p.tolerance} is not a fraction of accuracy from 0 to 1; "
                       "use e.g. 0.01 (one point)")
    if not 0.0 < p.eb_distance <= 1.0:
        raise LthError(f"prune.eb_distance {p.eb_distance} is outside (0, 1]; use e.g. --set prune.eb_distance=0.1")
    if p.eb_window < 1:
        raise LthError(f"prune.eb_window {p.eb_window} must be at least 1 epoch; use e.g. --set prune.eb_window=5")
    try:
        schedule.round_rates(p.rate, p.rounds, p.rate_schedule)
    except ValueError as e:
        raise LthError(
            f"prune.rate_schedule {e}; use constant, cubic:S (e.g. cubic:0.95) or one rate per round, e.g. 0.6,0.5,0.4"
        ) from None
    if p.one_shot and p.rate_schedule != schedule.CONSTANT:
        raise LthError("prune.rate_schedule plans several rounds and one_shot prunes once; drop one of them")
    if p.early_bird and p.one_shot:
        raise LthError(
            "prune.early_bird stops the rounds between the dense round and the ticket, "
            "and one_shot has none; use prune.one_shot=false or prune.early_bird=false"
        )
    if p.early_bird and p.eb_window + 1 >= t.epochs:
        # The first distance comes at epoch 2, so the earliest stop is epoch eb_window + 1.
        raise LthError(
            f"prune.eb_window {p.eb_window} leaves no room to stop before train.epochs {t.epochs}; "
            + (f"use --set prune.eb_window={t.epochs - 2} or " if t.epochs >= 3 else "use ")
            + f"--set train.epochs={p.eb_window + 2}"
        )
    if t.epochs < 1:
        raise LthError(f"train.epochs {t.epochs} must be at least 1; use e.g. --set train.epochs=10")
    if t.batch_size < 1:
        raise LthError(f"train.batch_size {t.batch_size} must be at least 1; use e.g. 128")
    if t.learning_rate <= 0:
        raise LthError(f"train.learning_rate {t.learning_rate} must be positive; use e.g. 0.01")
    if t.optimizer not in OPTIMIZERS:
        raise LthError(f"train.optimizer {t.optimizer!r} is unknown; use sgd or adam")
    if t.schedule not in SCHEDULES:
        raise LthError(f"train.schedule {t.schedule!r} is unknown; use constant, cosine or step")
    if t.jit_compile is True and d.name in GRAPH_DATASETS:  # XLA has no kernel for sparse matmul
        raise LthError(f"train.jit_compile does not work with the graph dataset {d.name!r}; use train.jit_compile=auto")
    if t.precision not in (AUTO, *PRECISIONS):
        raise LthError(f"train.precision {t.precision!r} is unknown; use auto, float32 or mixed_bfloat16")
    parse_strategy(t.strategy)
    if t.precision not in (AUTO, "float32") and d.name in GRAPH_DATASETS:  # Spektral's GCNConv cannot build
        raise LthError(f"train.precision {t.precision} does not work with the graph dataset {d.name!r}; use float32")
    if not 0.0 <= k.alpha <= 1.0:
        raise LthError(f"distill.alpha {k.alpha} is outside [0, 1]; use e.g. 0.5")
    if k.temperature <= 0:
        raise LthError(f"distill.temperature {k.temperature} must be positive; use e.g. 2")
    if k.from_round < 1:
        raise LthError(f"distill.from_round {k.from_round} must be at least 1 (round 0 is the teacher)")
    if d.val_size < 0 or d.train_subset < 0:
        raise LthError("data.val_size and data.train_subset must be 0 or more")
    return exp


def _one_of(names) -> str:
    """The names as "a, b or c"."""
    names = list(names)
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
