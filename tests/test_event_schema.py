"""docs/internals.md lists each event's fields; this checks the list against the typed
records in lth_tf/core/events/records.py (names and order), so the two cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

from lth_tf.core import events as E

DOC = Path(__file__).resolve().parents[1] / "docs" / "internals.md"


def top_level_names(text: str) -> list[str]:
    """`a, b (note, with commas), c ({x: y})` -> [a, b, c]: drops bracketed asides."""
    depth, kept = 0, []
    for ch in text:
        depth += ch in "([{"
        if depth == 0:
            kept.append(ch)
        depth -= ch in ")]}"
    return [w.strip() for w in "".join(kept).split(",") if w.strip()]


def documented() -> dict[str, list[str]]:
    section = DOC.read_text().split('## Event fields', 1)[1].split("\n## ", 1)[0]
    out = {}
    for m in re.finditer(r"^- (\w+): (.*)$", section, flags=re.MULTILINE):
        out[m.group(1)] = top_level_names(m.group(2).split(";", 1)[0])
    return out


def test_internals_lists_every_record_with_its_fields_in_order():
    doc = documented()
    assert list(doc) == list(E.RECORDS), "events documented differ from events.RECORDS"
    for name, cls in E.RECORDS.items():
        assert doc[name] == cls.field_names(), name


def test_the_doc_check_sees_a_missing_field():
    assert top_level_names("round, layer_sparsity ({a: b, c}), distill (x, y) or null") == [
        "round", "layer_sparsity", "distill  or null"]
