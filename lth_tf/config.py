"""Experiment configuration: frozen dataclasses, TOML, presets, overrides, hash.

No TensorFlow here, so config handling tests run in milliseconds.

The canonical string of an Experiment lists only the fields that differ from
their defaults (as open_lth does); its MD5 names the run directory. Adding a new
field with a default therefore never renames an existing run, and running the
same config again finds the same directory and resumes.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, get_type_hints

from lth_tf import schedule, sources
from lth_tf.errors import LthError

# Names the registries accept. Kept here as plain strings (not imported from the
# registries) so validating a config never imports TensorFlow; tests check that
# these lists and the registries agree.
DATASETS = ("cifar10", "cora", "citeseer", "pubmed", "synthetic_images", "synthetic_graph")
MODELS = ("resnet18", "gcn", "lenet300", "conv4", "tiny_cnn")
GRAPH_DATASETS = ("cora", "citeseer", "pubmed", "synthetic_graph")
GRAPH_MODELS = ("gcn",)
SCOPES = ("global", "layerwise")
STRUCTURES = ("weights", "channels")  # lth_tf.pruning.channels.STRUCTURES (tested equal)
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine", "step")
CONTROL_KINDS = ("random_reinit", "random_mask")
PRECISIONS = ("float32", "mixed_bfloat16")  # Keras mixed precision policy names
REWIND_RE = re.compile(r"^(init|lr|finetune|step:\d+)$")


@dataclass(frozen=True)
class Data:
    """Which data set, and how much of it."""

    name: str = "cora"  # a registry name, or folder:PATH (one subfolder per class)
    image_size: int = 32  # folder: images are resized to image_size x image_size
    val_size: int = 5000  # image sets: training images held out for validation
    train_subset: int = 0  # image sets: use only the first N training images (0 = all)
    augment: bool = True  # image sets: pad-4 random crop + horizontal flip


@dataclass(frozen=True)
class Model:
    """Which architecture. Fields a model does not use are ignored by it."""

    name: str = "gcn"  # a registry name, file:PATH (.keras/.h5) or py:module:function
    reinit: bool = False  # file: models: re-initialise from the seed instead of the stored weights
    width: int = 64  # resnet18: channels of the first stage; conv4/tiny_cnn: first conv
    hidden: int = 16  # gcn: hidden units
    dropout: float = 0.5  # gcn: dropout on inputs and hidden layer
    l2: float = 5e-4  # gcn: L2 on the first layer's kernel; resnet18: on all kernels


@dataclass(frozen=True)
class Train:
    """How one round trains."""

    epochs: int = 200
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 0.01
    momentum: float = 0.9  # sgd only
    schedule: str = "constant"  # constant | cosine | step (x0.1 at 50% and 75%)
    select_best: bool = True  # keep the weights of the best validation epoch
    patience: int = 0  # stop after this many epochs without val improvement (0 = never)
    finetune_lr: float = 0.0  # rewind=finetune: constant rate (0 = learning_rate / 10)
    deterministic: bool = False  # TF op determinism (slower, bit-reproducible)
    # Measured by benchmarks/speed.py: XLA and bfloat16 are slower on CPUs without
    # AVX512_BF16/AMX (this machine: AVX2), so both are opt-in.
    jit_compile: bool = False  # XLA-compile the train and test steps
    precision: str = "float32"  # float32 | mixed_bfloat16 (variables and masks stay float32)


@dataclass(frozen=True)
class Prune:
    """How the lottery search prunes and rewinds."""

    rounds: int = 20
    rate: float = 0.2  # fraction of the remaining weights pruned per round
    scope: str = "global"  # global | layerwise
    rewind: str = "init"  # init | step:K | lr | finetune
    layer_rates: dict[str, float] = field(default_factory=dict)  # per-layer rate overrides
    exclude: tuple[str, ...] = ()  # layer names never pruned
    one_shot: bool = False  # one round straight to 1-(1-rate)**rounds sparsity
    controls: tuple[str, ...] = ()  # random_reinit, random_mask
    control_rounds: str = "last"  # last | all | comma-separated round numbers
    tolerance: float = 0.0  # winner: sparsest round with val_acc >= dense - tolerance
    # weights | channels (whole filters/units by L1 norm; rate then counts channels)
    structure: str = "weights"
    # Early-bird rounds: a round stops once the mask its pruning step would take has
    # moved less than eb_distance (normalised Hamming) for eb_window epochs running.
    # The dense round 0 and the last round (the ticket) always train in full.
    early_bird: bool = False
    eb_distance: float = 0.1
    eb_window: int = 5
    # Per-round rates: constant (prune.rate every round) | cubic:S (reach sparsity S in
    # prune.rounds rounds, large steps first) | one rate per round, e.g. "0.6,0.5,0.4".
    rate_schedule: str = "constant"


@dataclass(frozen=True)
class Distill:
    """Knowledge distillation from the dense (round 0) network."""

    enabled: bool = False
    alpha: float = 0.5  # weight of the soft (KL) term; 1-alpha on the hard labels
    temperature: float = 2.0
    from_round: int = 1
    all_nodes: bool = False  # graphs: soft loss on every node, not only training nodes


@dataclass(frozen=True)
class Experiment:
    """One lottery-ticket experiment. `preset` is a label and not hashed."""

    data: Data = field(default_factory=Data)
    model: Model = field(default_factory=Model)
    train: Train = field(default_factory=Train)
    prune: Prune = field(default_factory=Prune)
    distill: Distill = field(default_factory=Distill)
    seed: int = 0
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


SECTIONS = {"data": Data, "model": Model, "train": Train, "prune": Prune, "distill": Distill}
TOP_LEVEL = {"seed": int, "preset": str}


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


# -- building from dicts ---------------------------------------------------------


def from_dict(raw: dict[str, Any], base: Experiment | None = None) -> Experiment:
    """Layer `raw` (as read from TOML) over `base`, type-checking every key."""
    exp = base or Experiment()
    raw = dict(raw)
    raw.pop("description", None)  # presets carry a description line
    for key, value in raw.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise LthError(f"config: [{key}] must be a table; write it as [{key}] with keys below")
            for sub, subvalue in value.items():
                exp = set_value(exp, f"{key}.{sub}", subvalue)
        elif key in TOP_LEVEL:
            exp = set_value(exp, key, value)
        else:
            raise LthError(
                f"config: unknown key {key!r}; top-level keys are "
                f"{', '.join(list(SECTIONS) + list(TOP_LEVEL))}"
            )
    return exp


def set_value(exp: Experiment, dotted: str, value: Any) -> Experiment:
    """Return `exp` with the dotted key set to `value` (str values are parsed)."""
    parts = dotted.split(".")
    if len(parts) == 1 and parts[0] in TOP_LEVEL:
        typ = TOP_LEVEL[parts[0]]
        return replace(exp, **{parts[0]: _coerce(dotted, value, typ)})
    if len(parts) != 2 or parts[0] not in SECTIONS:
        raise LthError(f"unknown setting {dotted!r}; use one of: {', '.join(all_keys())}")
    section, name = parts
    cls = SECTIONS[section]
    hints = get_type_hints(cls)
    if name not in hints:
        raise LthError(f"unknown setting {dotted!r}; use one of: {', '.join(all_keys())}")
    new_section = replace(getattr(exp, section), **{name: _coerce(dotted, value, hints[name])})
    return replace(exp, **{section: new_section})


def all_keys() -> list[str]:
    keys = [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in fields(cls)]
    return keys + ["seed"]


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _coerce(key: str, value: Any, typ: Any) -> Any:
    """Convert `value` to `typ`; strings (from --set) are parsed."""
    tname = getattr(typ, "__name__", str(typ))
    bad = LthError(f"setting {key!r}: {value!r} is not a valid {_type_word(typ)}; e.g. {_example(typ)}")
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise bad
    if typ is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        raise bad
    if typ is float:
        if isinstance(value, bool):
            raise bad
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise bad from None
        if not math.isfinite(number):  # nan/inf would slip past the range checks
            raise bad
        return number
    if typ is str or tname == "str":
        if isinstance(value, str):
            return value
        raise bad
    if str(typ).startswith("str | None") or str(typ) == "typing.Optional[str]":
        return None if value in (None, "") else str(value)
    if str(typ).startswith("tuple"):
        if isinstance(value, str):
            return tuple(x.strip() for x in value.split(",") if x.strip())
        if isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value):
            return tuple(value)
        raise bad
    if str(typ).startswith("dict"):
        if isinstance(value, str):  # "name:rate,name:rate"
            out = {}
            for part in filter(None, (p.strip() for p in value.split(","))):
                name, sep, rate = part.partition(":")
                if not sep:
                    raise bad
                out[name.strip()] = _coerce(key, rate, float)
            return out
        if isinstance(value, dict):
            return {str(k): _coerce(key, v, float) for k, v in value.items()}
        raise bad
    raise bad  # pragma: no cover - every field type is handled above


def _type_word(typ: Any) -> str:
    return {bool: "true/false", int: "whole number", float: "number", str: "string"}.get(
        typ, "list like a,b" if str(typ).startswith("tuple") else "mapping like name:0.1,other:0.2"
    )


def _example(typ: Any) -> str:
    return {bool: "true", int: "3", float: "0.2", str: "text"}.get(
        typ, "a,b" if str(typ).startswith("tuple") else "output:0.1"
    )


# -- validation -----------------------------------------------------------------


def validate(exp: Experiment) -> Experiment:
    """Check values a user may get wrong; raise LthError naming value and fix."""
    d, m, t, p, k = exp.data, exp.model, exp.train, exp.prune, exp.distill
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
        raise LthError(f"prune.structure {p.structure!r} is unknown; use weights or channels")
    if p.structure == "channels" and p.layer_rates:
        raise LthError(
            "prune.layer_rates works with prune.structure=weights only; "
            "drop layer_rates or use prune.exclude to keep a layer's channels"
        )
    if not REWIND_RE.fullmatch(p.rewind):  # match() would let 'init\n' through
        raise LthError(f"prune.rewind {p.rewind!r} is unknown; use init, step:K (K>=0), lr or finetune")
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
    if p.tolerance < 0:
        raise LthError(f"prune.tolerance {p.tolerance} is negative; use e.g. 0.01 (one point)")
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
            f"use an eb_window of at most {max(1, t.epochs - 2)} or more epochs"
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
    if t.jit_compile and d.name in GRAPH_DATASETS:  # XLA has no kernel for sparse matmul
        raise LthError(f"train.jit_compile does not work with the graph dataset {d.name!r}; use train.jit_compile=false")
    if t.precision not in PRECISIONS:
        raise LthError(f"train.precision {t.precision!r} is unknown; use float32 or mixed_bfloat16")
    if t.precision != "float32" and d.name in GRAPH_DATASETS:  # Spektral's GCNConv cannot build
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


# -- presets and files --------------------------------------------------------------


def preset_names() -> list[str]:
    return sorted(
        p.name[: -len(".toml")]
        for p in resources.files("lth_tf.presets").iterdir()
        if p.name.endswith(".toml")
    )


@functools.cache
def _preset_subject(name: str) -> tuple[str, str]:
    """(model name, data name) a preset trains."""
    raw = _read_preset(name)
    return (
        raw.get("model", {}).get("name", Model().name),
        raw.get("data", {}).get("name", Data().name),
    )


def preset_description(name: str) -> str:
    return _read_preset(name).get("description", "")


def _read_preset(name: str) -> dict[str, Any]:
    if name not in preset_names():
        raise LthError(f"No such preset: {name!r}; run `lth-tf presets` to list them")
    text = resources.files("lth_tf.presets").joinpath(f"{name}.toml").read_text()
    return tomllib.loads(text)


def load_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise LthError(f"config file not found: {p}; give the path of a TOML file")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:  # a binary file or another encoding: TOML is UTF-8
        raise LthError(
            f"config file {p} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset "
            f"{e.start}); give a TOML file saved as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LthError(f"config file {p} is not valid TOML ({e}); fix the syntax") from None


def resolve(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> Experiment:
    """Preset, then TOML file, then `key=value` overrides; validated."""
    exp = Experiment()
    if preset:
        exp = from_dict(_read_preset(preset), exp)
        exp = replace(exp, preset=preset)
    if config_file:
        try:
            exp = from_dict(load_toml(config_file), exp)
        except LthError as e:  # a bad key or value: say which file holds it
            message = str(e)
            if str(config_file) not in message:
                message = f"config file {config_file}: {message}"
            raise LthError(message) from None
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise LthError(f"--set {item!r} is not key=value; write e.g. --set prune.rate=0.2")
        exp = set_value(exp, key.strip(), value.strip())
    return validate(exp)


# -- a small TOML writer for our own flat types -----------------------------------------


def dumps_toml(d: dict[str, Any]) -> str:
    lines = []
    for key, value in d.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value in d.items():
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            nested = []
            for k, v in value.items():
                if isinstance(v, dict):
                    nested.append((k, v))
                else:
                    lines.append(f"{k} = {_toml_value(v)}")
            for k, v in nested:
                inline = ", ".join(f"{_toml_str(a)} = {_toml_value(b)}" for a, b in v.items())
                lines.append(f"{k} = {{ {inline} }}")
    return "\n".join(lines).lstrip() + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def _toml_str(s: str) -> str:
    """A TOML basic string. JSON's escapes are valid TOML, but its ASCII-only
    output writes characters beyond U+FFFF as surrogate pairs, which TOML rejects;
    so write non-ASCII as is and escape DEL, the one control JSON leaves raw."""
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")
