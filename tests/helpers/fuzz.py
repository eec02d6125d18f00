"""Fuzz helpers (tests/test_fuzz.py, tests/test_fuzz_run.py): mutations, the check, the tally.

A mutation changes one file's bytes; `check` runs a reader and accepts a correct result or
one LthError line naming the file; outcomes are tallied and written when a module ends.
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from lth_tf.core.errors import LthError

# Examples are slow (files on disk, sometimes TensorFlow): no deadline, fixed draws.
FAST = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
OUTCOMES_JSON = Path("/tmp/lth-fuzz-outcomes.json")
# kind of file -> {"ok": n, "error": n}: printed and written when the module ends.
OUTCOMES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


def record(kind: str, outcome: str) -> None:
    OUTCOMES[kind][outcome] += 1


def dump_outcomes() -> dict[str, dict[str, int]]:
    table = {k: dict(v) for k, v in sorted(OUTCOMES.items())}
    OUTCOMES_JSON.write_text(json.dumps(table, indent=1) + "\n")
    return table


@dataclass(frozen=True)
class Mutation:
    """A change to a file's bytes; positions are fractions so one draw fits any length."""

    kind: str  # truncate | flip | empty | append | splice
    at: tuple[float, ...] = ()
    xor: tuple[int, ...] = ()
    garbage: bytes = b""

    def apply(self, blob: bytes) -> bytes:
        n = len(blob)
        if self.kind == "empty":
            return b""
        if self.kind == "truncate":
            return blob[: int(self.at[0] * n)]
        if self.kind == "append":
            return blob + self.garbage
        if n == 0:  # nothing to flip or overwrite (an empty lock file): write something
            return self.garbage or bytes(self.xor[:1])
        out = bytearray(blob)
        if self.kind == "flip":
            for a, x in zip(self.at, self.xor):
                out[min(int(a * n), n - 1)] ^= x
            return bytes(out)
        if self.kind == "splice":  # overwrite a run of bytes with garbage
            i = int(self.at[0] * n)
            out[i : i + len(self.garbage)] = self.garbage
            return bytes(out)
        raise AssertionError(self.kind)


_frac = st.floats(0, 1, exclude_max=True, allow_nan=False)


@st.composite
def mutations(draw) -> Mutation:
    """Every mutation changes the bytes (xor values are non-zero, truncation cuts >= 1 byte)."""
    kind = draw(st.sampled_from(["truncate", "flip", "flip", "empty", "append", "splice"]))
    if kind == "truncate":
        return Mutation(kind, at=(draw(_frac),))
    if kind == "flip":
        n = draw(st.integers(1, 4))
        at = tuple(draw(st.lists(_frac, min_size=n, max_size=n)))
        xor = tuple(draw(st.lists(st.integers(1, 255), min_size=n, max_size=n)))
        return Mutation(kind, at=at, xor=xor)
    if kind == "append":
        return Mutation(kind, garbage=draw(st.binary(min_size=1, max_size=64)))
    if kind == "splice":
        return Mutation(kind, at=(draw(_frac),), garbage=draw(st.binary(min_size=1, max_size=16)))
    return Mutation(kind)


def mutate_file(path: Path, m: Mutation) -> bytes:
    """Apply `m` to `path` in place; returns the original bytes (to restore them)."""
    original = path.read_bytes()
    path.write_bytes(m.apply(original))
    return original


def one_line_error(message: str, *names: str) -> None:
    """What every user error must be: one line, naming the file it is about."""
    assert "\n" not in message and message.strip(), repr(message)
    assert any(n in message for n in names), f"{names} not in {message!r}"


def check(kind: str, read, *names: str, expect=None):
    """Run `read()`: an LthError must be one line naming the file; a result must equal `expect`."""
    try:
        got = read()
    except LthError as e:
        one_line_error(str(e), *names)
        record(kind, "error")
        return None
    if expect is not None:
        expect(got)
    record(kind, "ok")
    return got
