"""Events: the typed records, the sinks that receive them, the reading of events.jsonl.

Callers use the package (`from lth_tf.core import events as E`: `E.RoundFinished`,
`E.parse`, `E.JsonlSink`, `E.read_events`, ...); each concept has its module:
- `records`: the schema, one typed record per event (a new field is declared
  there), `parse`, `make_event`, `clean`, `KD_KEYS`.
- `sinks`: `JsonlSink` (events.jsonl), `ListSink` (memory), `FanOut`.
- `log`: `read_events`, `iter_events`, `follow_events`.
No TensorFlow here.
"""

from lth_tf.core.events.log import follow_events, iter_events, read_events
from lth_tf.core.events.records import (
    DISTILL_LOSS,
    EVENT_NAMES,
    KD_KEYS,
    OMIT_NONE,
    RECORDS,
    STUDENT_LOSS,
    TEACHER_LOSS,
    ControlFinished,
    EpochEnd,
    Event,
    Record,
    RoundFinished,
    RoundStarted,
    RunFailed,
    RunFinished,
    RunStarted,
    TicketExported,
    clean,
    make_event,
    parse,
)
from lth_tf.core.events.sinks import FanOut, JsonlSink, ListSink

__all__ = [
    "DISTILL_LOSS",
    "EVENT_NAMES",
    "KD_KEYS",
    "OMIT_NONE",
    "RECORDS",
    "STUDENT_LOSS",
    "TEACHER_LOSS",
    "ControlFinished",
    "EpochEnd",
    "Event",
    "FanOut",
    "JsonlSink",
    "ListSink",
    "Record",
    "RoundFinished",
    "RoundStarted",
    "RunFailed",
    "RunFinished",
    "RunStarted",
    "TicketExported",
    "clean",
    "follow_events",
    "iter_events",
    "make_event",
    "parse",
    "read_events",
]
