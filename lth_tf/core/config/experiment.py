"""`Experiment`: the sections together, its canonical string, hash and run name."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lth_tf.core import schedule, sources
from lth_tf.core.config.presets import _preset_subject, preset_names
from lth_tf.core.config.schema import (
    AUTO,
    GRAPH_DATASETS,
    PRE_AUTO_DEFAULTS,
    SECTIONS,
    Data,
    Distill,
    Model,
    Prune,
    Train,
)
from lth_tf.core.config.toml_io import dumps_toml


@dataclass(frozen=True)
class Experiment:
    """One lottery-ticket experiment. `preset` is a label and not hashed."""

    data: Data = field(default_factory=Data)
    model: Model = field(default_factory=Model)
    train: Train = field(default_factory=Train)
    prune: Prune = field(default_factory=Prune)
    distill: Distill = field(default_factory=Distill)
    seed: int = 0  # seeds initial weights, data order and splits, and the controls (--seed)
    preset: str | None = None

    # -- identity -----------------------------------------------------------
    def canonical(self) -> str:
        """Sorted `key=value` lines of every non-default field (preset excluded).

        User sources (file:, py:, folder:) add a digest of what they point at, so
        a changed model file or data folder never resumes an old run.
        """
        items = _non_defaults(self)
        for key, name in (("model", self.model.name), ("data", self.data.name)):
            digest = sources.fingerprint(name)
            if digest is not None:
                items.append((f"source.{key}", digest))
        return "\n".join(f"{k}={json.dumps(v, sort_keys=True)}" for k, v in sorted(items))

    def hash(self) -> str:
        return hashlib.md5(self.canonical().encode()).hexdigest()

    def as_auto(self) -> Experiment:
        """This experiment with each setting that holds its `PRE_AUTO_DEFAULTS` value set to "auto".

        A config.toml written before "auto" became the default spells the old default out
        (precision = "float32") while its hash omitted it; read back today that value is
        not the default, so the file no longer matches its hash. Its run meant the default
        of its time: `rundir.read_experiment` returns this form when the stored hash is its
        hash (the run's settings then come from what the file said, `rundir.recorded_runtime`).
        """
        out = self
        for key, old in PRE_AUTO_DEFAULTS.items():
            section, name = key.split(".")
            part = getattr(out, section)
            if getattr(part, name) == old and type(getattr(part, name)) is type(old):
                out = dataclasses.replace(out, **{section: dataclasses.replace(part, **{name: AUTO})})
        return out

    def run_name(self) -> str:
        """Directory name of this experiment's run: label plus short hash.

        The label is the preset's name only if it is a shipped preset and the
        experiment still trains that preset's model on its data (a Cora run made
        from `smoke` is not called smoke-...); otherwise model and data names.
        """
        label = f"{_source_label(self.model.name)}-{_source_label(self.data.name)}"
        if self.preset in preset_names() and _preset_subject(self.preset) == (
            self.model.name,
            self.data.name,
        ):
            label = self.preset
        return f"{safe_label(label)}-{self.hash()[:10]}"

    # -- derived facts ------------------------------------------------------
    @property
    def is_graph(self) -> bool:
        return self.data.name in GRAPH_DATASETS

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["prune"]["exclude"] = list(self.prune.exclude)
        out["prune"]["controls"] = list(self.prune.controls)
        if out["preset"] is None:
            del out["preset"]
        return out

    def values_by_key(self) -> dict[str, Any]:
        """Every field of the sections as `section.field -> value` (the keys `--set` takes),
        JSON-ready: tuples as lists, dicts with sorted keys. `seed` and `preset` are not in it."""
        return {
            f"{section}.{f.name}": _jsonable(getattr(getattr(self, section), f.name))
            for section, cls in SECTIONS.items()
            for f in fields(cls)
        }

    def to_toml(self) -> str:
        return dumps_toml(self.to_dict())

    @property
    def planned_rounds(self) -> int:
        """Pruning rounds after the dense round 0 (one-shot prunes in one)."""
        return schedule.planned_rounds(self.prune.rounds, self.prune.one_shot)

    def control_round_list(self) -> list[int]:
        """Rounds that get controls."""
        spec = self.prune.control_rounds
        if spec == "last":
            return [self.planned_rounds]
        if spec == "all":
            return list(range(1, self.planned_rounds + 1))
        return [int(x) for x in spec.split(",")]


def _source_label(name: str) -> str:
    """A short label for a source name: the file or module name without its path."""
    prefix, rest = sources.split(name)
    if prefix is None:
        return name
    if prefix == sources.PY:
        return rest.rpartition(":")[2]
    return Path(rest.rstrip("/\\")).stem or prefix.rstrip(":")


def safe_label(label: str) -> str:
    """`label` reduced to characters safe in one path component (no separators, no leading dot)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.+-]+", "_", label).lstrip(".")
    return cleaned[:60] or "run"



def _non_defaults(exp: Experiment) -> list[tuple[str, Any]]:
    items = []
    for section, cls in SECTIONS.items():
        default = cls()
        value = getattr(exp, section)
        for f in fields(cls):
            v = getattr(value, f.name)
            if v != getattr(default, f.name):
                items.append((f"{section}.{f.name}", _jsonable(v)))
    if exp.seed != Experiment().seed:
        items.append(("seed", exp.seed))
    return sorted(items)


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, dict):
        return {k: v[k] for k in sorted(v)}
    return v

