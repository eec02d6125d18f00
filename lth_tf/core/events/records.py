"""Events: typed records (the schema, defined once) and their JSON form.

The engine and the search build a `Record` per event and send its `to_dict()`:
`{"event": NAME, "time": unix_seconds, ...fields}`, whose fields hold only floats,
ints, strings, bools, None, lists and dicts of those. Sinks (events.jsonl, the
console, the TUI, a user's callable) receive those dicts; `parse` turns one back
into its record. docs/internals.md's field list is checked against the records
(tests/test_event_schema.py). No TensorFlow here.
"""

from __future__ import annotations

import math
import time
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

Event = dict[str, Any]  # an event as sinks receive it and events.jsonl holds it

# The knowledge-distillation losses: the Distiller's metric names, so keys of an
# epoch_end event's logs and of round_finished's `distill`.
STUDENT_LOSS, DISTILL_LOSS, TEACHER_LOSS = KD_KEYS = ("student_loss", "distill_loss", "teacher_loss")


# -- the schema: one typed record per event ------------------------------------------------
# A field only some runs have (e.g. of structured pruning): left out of the JSON line when None.
OMIT_NONE = {"omit_none": True}


@dataclass(frozen=True, kw_only=True)
class Record:
    """One event. Fields without a default are required (they were in every version);
    fields with one were added later, so older events.jsonl files lack them.

    `extra` holds the fields a record does not declare: an epoch's Keras logs, or
    fields a newer version wrote. `to_dict` writes the declared fields in order, then
    `extra`, which is the JSON line lth-tf has always written.
    """

    NAME: ClassVar[str] = ""
    time: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Event:
        out: Event = {"event": self.NAME, "time": clean(self.time)}
        omit = {f.name for f in fields(self) if f.metadata.get("omit_none")}
        for name in self.field_names():
            value = getattr(self, name)
            if value is None and name in omit:
                continue  # a field of one kind of run only: other runs' lines stay as they were
            out[name] = clean(value)
        out.update({str(k): clean(v) for k, v in self.extra.items()})
        return out

    @classmethod
    def field_names(cls) -> list[str]:
        """The declared fields, in the order events.jsonl lists them."""
        return [f.name for f in fields(cls) if f.name not in ("time", "extra")]

    @classmethod
    def required(cls) -> list[str]:
        return [
            f.name
            for f in fields(cls)
            if f.name in cls.field_names() and f.default is MISSING and f.default_factory is MISSING
        ]

    @classmethod
    def of(cls, values: dict[str, Any], **kwargs: Any) -> Record:
        """The record holding `values` (declared fields by name, the rest in `extra`)."""
        names = set(cls.field_names())
        known = {k: v for k, v in values.items() if k in names}
        rest = {k: v for k, v in values.items() if k not in names and k not in ("event", "time")}
        return cls(**known, extra=rest, **kwargs)


@dataclass(frozen=True, kw_only=True)
class RunStarted(Record):
    NAME: ClassVar[str] = "run_started"
    run_dir: str
    config_hash: str
    preset: str | None
    rounds: int  # planned IMP rounds after round 0
    resumed_from: int | None  # last stored round, None for a fresh run
    model: str
    dataset: str
    config: dict[str, Any]
    runtime: dict[str, Any] | None = None  # oneDNN, XLA, precision, threads in force
    model_notes: list[str] | None = None  # what was changed to make the model trainable
    unpruned_layers: list[dict[str, str]] | None = None  # [{name, class}] nothing prunes
    # prune.structure=channels or refill only: [{name, reason}] of pruned layers whose channels stay whole
    unpruned_channels: list[dict[str, str]] | None = field(default=None, metadata=OMIT_NONE)
    # Added later: left out when None, so the lines of older runs read back as they were.
    # of the data: chance is 1/num_classes (lth_tf.core.winner)
    num_classes: int | None = field(default=None, metadata=OMIT_NONE)
    # examples per class and split: {classes, unit, train, val, test} (keras_side/data/splits.py)
    split_sizes: dict[str, Any] | None = field(default=None, metadata=OMIT_NONE)
    # e.g. a class with fewer than 10 training images
    data_warnings: list[str] | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True, kw_only=True)
class RoundStarted(Record):
    NAME: ClassVar[str] = "round_started"
    round: int
    target_sparsity: float
    epochs: int


@dataclass(frozen=True, kw_only=True)
class EpochEnd(Record):
    """`extra` holds the epoch's Keras logs: loss, acc, val_loss, val_acc, and with KD
    the KD_KEYS."""

    NAME: ClassVar[str] = "epoch_end"
    round: int
    epoch: int  # 1-based
    epochs: int
    seconds: float | None = None

    @property
    def logs(self) -> dict[str, Any]:
        return self.extra


@dataclass(frozen=True, kw_only=True)
class RoundFinished(Record):
    NAME: ClassVar[str] = "round_finished"
    round: int
    sparsity: float
    val_acc: float | None
    test_acc: float | None
    val_loss: float | None = None
    test_loss: float | None = None
    layer_sparsity: dict[str, float]
    seconds: float | None
    best_epoch: int | None = None
    epochs_run: int | None = None
    distill: dict[str, float] | None = None  # KD_KEYS of the kept epoch, None without KD
    # prune.structure=channels or refill: the fraction of prunable channels removed
    channel_sparsity: float | None = field(default=None, metadata=OMIT_NONE)
    # what the round's training cost (lth_tf.core.cost): examples, steps, seconds, train_flops, ...
    cost: dict[str, float] | None = field(default=None, metadata=OMIT_NONE)
    # early-bird rounds: {stopped_at (1-based epoch or null), distances (per epoch)}
    early_bird: dict[str, Any] | None = field(default=None, metadata=OMIT_NONE)
    # the ticket as served (flops.inference_size; narrowed with channels): params, nonzeros, flops
    inference: dict[str, float] | None = field(default=None, metadata=OMIT_NONE)
    # train.strategy other than default: digest of the masks this worker holds (lth_tf/search/mask_agreement.py)
    mask_digest: str | None = field(default=None, metadata=OMIT_NONE)
    # round 0 taken from another run (--dense-from, lth_tf/search/dense_copy.py): {run_dir, config_hash}
    reused_from: dict[str, str] | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True, kw_only=True)
class ControlFinished(Record):
    NAME: ClassVar[str] = "control_finished"
    kind: str
    round: int
    sparsity: float
    val_acc: float | None
    test_acc: float | None
    seconds: float | None = None
    cost: dict[str, float] | None = field(default=None, metadata=OMIT_NONE)  # as round_finished's


@dataclass(frozen=True, kw_only=True)
class TicketExported(Record):
    NAME: ClassVar[str] = "ticket_exported"
    round: int
    sparsity: float
    test_acc: float | None
    path: str
    saved_model_bytes: int | None = None
    gzip_bytes: int | None = None


@dataclass(frozen=True, kw_only=True)
class RunFinished(Record):
    NAME: ClassVar[str] = "run_finished"
    run_dir: str
    ticket: dict[str, Any] | None  # round, sparsity, test_acc, path (+ sizes), or None
    # without a ticket: why (lth_tf.core.winner's reason, e.g. dense at chance)
    no_ticket: str | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True, kw_only=True)
class RunFailed(Record):
    NAME: ClassVar[str] = "run_failed"
    error: str
    round: int | None = None


RECORDS: dict[str, type[Record]] = {
    r.NAME: r
    for r in (RunStarted, RoundStarted, EpochEnd, RoundFinished, ControlFinished,
              TicketExported, RunFinished, RunFailed)
}
EVENT_NAMES = tuple(RECORDS)


def parse(event: Any) -> Record | None:
    """The typed record of an event read back (events.jsonl, a sink), or None when it is
    not one: an unknown name, or a required field missing (a damaged or foreign line)."""
    if not isinstance(event, dict):
        return None
    cls = RECORDS.get(event.get("event"))  # type: ignore[arg-type]
    if cls is None or any(k not in event for k in cls.required()):
        return None
    t = event.get("time")
    return cls.of(event, **({"time": t} if isinstance(t, (int, float)) else {}))


def make_event(name: str, /, **fields: Any) -> Event:
    """Build an event dict by name (tests, and events no record declares a field of);
    numpy scalars and non-finite floats are made JSON-safe.

    `name` is positional-only so an event may carry a field called `name`.
    """
    if name not in EVENT_NAMES:
        raise ValueError(f"No such event: {name}")
    if "event" in fields:
        raise ValueError("an event field may not be called 'event' (it holds the event name)")
    return {"event": name, "time": time.time(), **{k: clean(v) for k, v in fields.items()}}


def clean(v: Any) -> Any:
    """Convert numpy scalars/arrays to Python types; NaN/inf become None."""
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
        v = v.item()
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    if hasattr(v, "tolist"):
        return clean(v.tolist())
    return v
