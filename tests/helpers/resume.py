"""Crash-and-resume runs of the CLI, shared by the resume tests.

A real crash: `lth-tf run` runs in a subprocess that gets SIGKILL while round
`kill_round` trains (after round kill_round-1's `round_finished` is in
events.jsonl); the same command runs again and must resume. An uninterrupted run
with the same arguments trains alongside in another --out, to compare with.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from helpers.cli import ROOT
from lth_tf.core.events import read_events
from lth_tf.storage import rundir, store
from lth_tf.storage.summary import SUMMARY_ROUND_KEYS, TICKET_KEYS

# summary.json's round keys but those holding wall-clock time: equal in a resumed and a clean run
REPRODUCED_ROUND_KEYS = tuple(k for k in SUMMARY_ROUND_KEYS if k not in ("seconds", "cost"))


def smoke_args(rounds: int, epochs: int, *sets: str, seed: int = 3) -> list[str]:
    """`lth-tf run` arguments of a smoke-preset search; `sets` are extra --set KEY=VALUE."""
    extra = [x for s in sets for x in ("--set", s)]
    return ["run", "--preset", "smoke", "--rounds", str(rounds), "--set", f"train.epochs={epochs}",
            *extra, "--seed", str(seed), "--quiet"]


def cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "lth_tf.frontends.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out, err


def wait_for_event(events: Path, proc: subprocess.Popen, pred, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(pred(e) for e in read_events(events)):
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before the event came: {proc.communicate()[1]}")
        time.sleep(0.02)
    raise AssertionError("timed out waiting for an event")


def comparable(summary: dict) -> dict:
    """summary.json without what may differ between runs (times, paths)."""
    ticket = summary["ticket"]
    return {
        "config_hash": summary["config_hash"],
        "status": summary["status"],
        "dense": summary["dense"],
        "rounds": [{k: r[k] for k in REPRODUCED_ROUND_KEYS} for r in summary["rounds"]],
        "controls": summary["controls"],
        # the SavedModel's bytes vary a little (fingerprints, uids); the ticket's numbers do not
        "ticket": ticket and {k: ticket[k] for k in TICKET_KEYS},
    }


def crash_and_resume(args: list[str], crashed_out: Path, clean_out: Path, kill_round: int = 2,
                     timeout: float = 600) -> dict:
    """Kill a run inside round `kill_round` (after its first epoch), rerun it, and run a clean twin.

    Returns run_dir (the killed and resumed run), clean_dir, the rerun's stdout
    and stderr, and `killed`: the completed rounds, events and summary at the kill.
    """
    clean = cli(*args, "--out", str(clean_out))  # trains alongside the one that gets killed
    proc = cli(*args, "--out", str(crashed_out))
    run_dir = None
    deadline = time.monotonic() + timeout
    while run_dir is None and time.monotonic() < deadline:
        dirs = [d for d in crashed_out.iterdir() if d.is_dir()]
        run_dir = dirs[0] if dirs else None
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()[1]}")
        time.sleep(0.02)
    assert run_dir is not None, "no run dir appeared"
    events = rundir.events_path(run_dir)
    wait_for_event(events, proc, lambda e: e["event"] == "round_finished" and e["round"] == kill_round - 1,
                   timeout=timeout)
    # inside round kill_round's training: after its first epoch, before its last
    wait_for_event(events, proc, lambda e: e["event"] == "epoch_end" and e["round"] == kill_round,
                   timeout=timeout)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed = {
        "completed": sorted(int(p.name) for p in rundir.rounds_dir(run_dir).iterdir() if p.name.isdigit()),
        "events": read_events(events),
        "summary": json.loads(rundir.summary_path(run_dir).read_text()),
    }
    out, err = finish(cli(*args, "--out", str(crashed_out)), timeout=timeout)
    clean_stdout, _ = finish(clean, timeout=timeout)
    return {"run_dir": run_dir, "clean_dir": Path(clean_stdout.strip()), "stdout": out, "stderr": err,
            "killed": killed}


def assert_same_summaries(run_dir: Path, clean_dir: Path) -> tuple[dict, dict]:
    """Both runs finished with equal summaries (times and paths aside); returns both."""
    a = json.loads(rundir.summary_path(run_dir).read_text())
    b = json.loads(rundir.summary_path(clean_dir).read_text())
    assert a["status"] == b["status"] == "finished"
    assert comparable(a) == comparable(b)
    return a, b


def assert_same_stored_rounds(run_dir: Path, clean_dir: Path, rounds: int) -> None:
    """Rounds 0..rounds hold the same masks, weights and round metadata bit for bit."""
    sa, sb = store.RunStore(run_dir), store.RunStore(clean_dir)
    for r in range(rounds + 1):
        wa, ma, meta_a = sa.load_round(r)
        wb, mb, meta_b = sb.load_round(r)
        assert meta_a.get("early_bird") == meta_b.get("early_bird"), f"round {r}"
        assert ma.keys() == mb.keys()
        for name in ma:
            assert ma[name].dtype == mb[name].dtype
            assert ma[name].tobytes() == mb[name].tobytes(), f"round {r} mask {name}"
        assert len(wa) == len(wb)
        for i, (x, y) in enumerate(zip(wa, wb)):
            assert x.tobytes() == y.tobytes(), f"round {r} weight {i}"


def assert_same_rewind_point(run_dir: Path, clean_dir: Path) -> None:
    ra = np.load(rundir.rewind_path(run_dir))
    rb = np.load(rundir.rewind_path(clean_dir))
    assert all(ra[k].tobytes() == rb[k].tobytes() for k in ra.files)
