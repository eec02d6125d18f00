"""Tests for lth_tf/core/events/: event cleaning, the JSONL sink, reading and following."""

from __future__ import annotations

import json
import math
import threading
import time

import numpy as np
import pytest

from lth_tf.core import events as E


def test_make_event_cleans_numpy_and_non_finite():
    ev = E.make_event(
        "epoch_end",
        loss=np.float32(0.5),
        acc=np.float64(0.25),
        epoch=np.int64(3),
        best=np.bool_(True),
        val_loss=float("nan"),
        lr=np.float32("inf"),
        teacher_loss=-math.inf,
        per_layer={"conv": np.float32(0.2), 7: np.array([1.0, np.nan])},
        shape=(np.int32(3), 4),
        weights=np.arange(4, dtype=np.int16).reshape(2, 2),
        name="round",
        nothing=None,
    )
    assert ev["event"] == "epoch_end" and isinstance(ev["time"], float)
    assert abs(ev["time"] - time.time()) < 60
    assert ev["loss"] == 0.5 and type(ev["loss"]) is float
    assert type(ev["acc"]) is float and type(ev["epoch"]) is int and ev["epoch"] == 3
    assert ev["best"] is True
    assert ev["val_loss"] is None and ev["lr"] is None and ev["teacher_loss"] is None
    assert ev["per_layer"] == {"conv": pytest.approx(0.2), "7": [1.0, None]}
    assert type(ev["per_layer"]["conv"]) is float
    assert ev["shape"] == [3, 4] and type(ev["shape"][0]) is int
    assert ev["weights"] == [[0, 1], [2, 3]]
    assert ev["name"] == "round" and ev["nothing"] is None
    # strictly valid JSON (no NaN/Infinity tokens), and it survives a round trip
    text = json.dumps(ev, allow_nan=False)
    assert json.loads(text) == ev


def test_every_contract_event_name_is_accepted():
    expected = {
        "run_started",
        "round_started",
        "epoch_end",
        "round_finished",
        "control_finished",
        "ticket_exported",
        "run_finished",
        "run_failed",
    }
    assert set(E.EVENT_NAMES) == expected
    for name in expected:
        assert E.make_event(name)["event"] == name


@pytest.mark.parametrize("name", ["epoch_started", "", "EPOCH_END", "round finished"])
def test_unknown_event_name_raises(name):
    with pytest.raises(ValueError, match="No such event"):
        E.make_event(name, loss=1.0)


def test_event_field_cannot_replace_the_event_name():
    with pytest.raises(ValueError, match="event"):
        E.make_event("epoch_end", event="bogus")


def test_jsonl_sink_appends_lines_readable_by_read_events(tmp_path):
    path = tmp_path / "run" / "nested" / "events.jsonl"  # parents are created
    sink = E.JsonlSink(path)
    evs = [E.make_event("round_started", round=r) for r in range(3)]
    for ev in evs:
        sink(ev)
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["event"] == "round_started" for line in lines)
    assert E.read_events(path) == evs
    # a second sink on the same file (a resumed run) appends, it does not truncate
    E.JsonlSink(path)(E.make_event("run_finished", status="finished"))
    got = E.read_events(path)
    assert [e["event"] for e in got] == ["round_started"] * 3 + ["run_finished"]
    assert [e.get("round") for e in got[:3]] == [0, 1, 2]


def test_jsonl_sink_is_thread_safe(tmp_path):
    path = tmp_path / "events.jsonl"
    sink = E.JsonlSink(path)

    def write(worker):
        for i in range(25):
            sink(E.make_event("epoch_end", worker=worker, epoch=i))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    got = E.read_events(path)
    assert len(got) == 100
    assert sorted((e["worker"], e["epoch"]) for e in got) == [
        (w, i) for w in range(4) for i in range(25)
    ]


def test_torn_last_line_is_skipped(tmp_path):
    path = tmp_path / "events.jsonl"
    sink = E.JsonlSink(path)
    sink(E.make_event("run_started", preset="smoke"))
    sink(E.make_event("round_started", round=0))
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"event": "epoch_end", "time": 1.0, "lo')  # the writer died here
    got = E.read_events(path)
    assert [e["event"] for e in got] == ["run_started", "round_started"]
    # a complete-looking JSON object without its newline is still a torn line
    path2 = tmp_path / "e2.jsonl"
    path2.write_text('{"event": "run_started", "time": 1.0}\n{"event": "run_failed", "time": 2.0}')
    assert [e["event"] for e in E.read_events(path2)] == ["run_started"]


def test_read_events_skips_blank_and_corrupt_lines_and_missing_files(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(
        '\n{"event": "run_started", "time": 1.0}\nnot json\n\n{"event": "run_finished", "time": 2}\n'
    )
    assert [e["event"] for e in E.read_events(path)] == ["run_started", "run_finished"]
    assert E.read_events(tmp_path / "nope.jsonl") == []


def _follow_in_thread(path, poll=0.01):
    got: list[dict] = []
    stop = threading.Event()

    def run():
        for ev in E.follow_events(path, stop, poll=poll):
            got.append(ev)  # noqa: PERF402 - one at a time, so the test sees them arrive

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return got, stop, thread


def _wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


def test_follow_events_yields_appended_events(tmp_path):
    path = tmp_path / "events.jsonl"  # does not exist yet when the follower starts
    got, stop, thread = _follow_in_thread(path)
    try:
        time.sleep(0.03)
        sink = E.JsonlSink(path)
        sink(E.make_event("run_started", preset="smoke"))
        assert _wait_for(lambda: len(got) == 1)
        for r in range(1, 4):
            sink(E.make_event("round_finished", round=r, sparsity=np.float32(1 - 0.8**r)))
        assert _wait_for(lambda: len(got) == 4)
        # a line written in two pieces is yielded once, whole, after its newline
        with open(path, "a", encoding="utf-8") as f:
            f.write('{"event": "run_finished", "time": 5.0, ')
            f.flush()
            time.sleep(0.05)
            assert len(got) == 4
            f.write('"status": "finished"}\n')
        assert _wait_for(lambda: len(got) == 5)
    finally:
        stop.set()
        thread.join(timeout=2)
    assert not thread.is_alive()
    assert [e["event"] for e in got] == ["run_started"] + ["round_finished"] * 3 + ["run_finished"]
    assert [e["round"] for e in got[1:4]] == [1, 2, 3]
    assert got[-1]["status"] == "finished"
    assert got == E.read_events(path)


def test_follow_events_starts_from_the_beginning_and_stops(tmp_path):
    path = tmp_path / "events.jsonl"
    sink = E.JsonlSink(path)
    sink(E.make_event("run_started"))
    sink(E.make_event("round_started", round=0))
    got, stop, thread = _follow_in_thread(path)
    assert _wait_for(lambda: len(got) == 2)
    stop.set()
    thread.join(timeout=2)
    assert not thread.is_alive()
    sink(E.make_event("run_finished"))  # written after the stop: not seen
    time.sleep(0.03)
    assert len(got) == 2


def test_list_sink_and_fan_out(tmp_path):
    mem = E.ListSink()
    path = tmp_path / "events.jsonl"
    fan = E.FanOut(mem, None, E.JsonlSink(path))
    fan(E.make_event("round_started", round=1))
    fan(E.make_event("round_finished", round=1, sparsity=0.2))
    assert [e["event"] for e in mem.events] == ["round_started", "round_finished"]
    assert mem.named("round_finished")[0]["sparsity"] == 0.2
    assert E.read_events(path) == mem.events


def test_read_events_skips_non_utf8_and_non_object_lines(tmp_path):
    """Found by the fuzz test: a byte 0x80 in events.jsonl raised UnicodeDecodeError out of
    `lth-tf report`, and a line damaged into `1` raised AttributeError there."""
    good = E.make_event("run_finished", run_dir="x", ticket=None)
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        json.dumps(good).encode() + b"\n\x80\xff{bad\n1\n[2, 3]\n" + json.dumps(good).encode() + b"\n"
    )
    assert E.read_events(path) == [good, good]
