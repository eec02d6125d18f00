"""A full disk anywhere: one line naming the file and the space, nothing half-written (issue 28 item 2).

Fast tests inject ENOSPC at the write layer (`os.fsync` or a write of the
temporary file raising OSError(ENOSPC), as a full disk does); the slow ones mount
a small tmpfs (root only, skipped elsewhere) and run `lth-tf run` and `lth-tf
export` into it, then grow it and resume.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import SMOKE, Launched, lth, tree

from lth_tf.core.events import JsonlSink, read_events
from lth_tf.core.paths import NoSpace, free_bytes
from lth_tf.frontends.cli import main as cli
from lth_tf.storage import atomic, store

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def full_after(monkeypatch, n_ok: int) -> list[int]:
    """os.fsync succeeds `n_ok` times, then the disk is full."""
    calls = [0]
    real = os.fsync

    def fsync(fd):
        calls[0] += 1
        if calls[0] > n_ok:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def no_temp_names(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if atomic.TEMP_RE.match(p.name)]


# -- the write layer (injected ENOSPC) -----------------------------------------------------------
def test_a_full_disk_keeps_the_old_file_and_names_it_with_the_size(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    atomic.write_json_atomic(path, {"old": True})
    full_after(monkeypatch, 0)
    with pytest.raises(NoSpace) as e:
        atomic.write_json_atomic(path, {"new": "x" * 5000})
    msg = str(e.value)
    assert str(path) in msg and ".lth-" not in msg, msg
    assert "kB needed" in msg and "free" in msg and "run the same command again" in msg, msg
    assert json.loads(path.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_round_that_does_not_fit_leaves_no_folder_and_names_the_round(tmp_path, monkeypatch):
    run = store.RunStore(tmp_path / "run")
    w, m = [np.ones((64, 64), np.float32)], {"dense": np.ones((64, 64), np.float32)}
    run.save_round(0, w, m, {"round": 0})
    before = tree(tmp_path)
    full_after(monkeypatch, 1)  # weights.npz fits, masks.npz does not
    with pytest.raises(NoSpace) as e:
        run.save_round(1, w, m, {"round": 1})
    msg = str(e.value)
    assert str(tmp_path / "run" / "rounds" / "001") in msg and ".lth-" not in msg, msg
    assert "32.8 kB needed" in msg, msg  # weights and masks: 2 x 64 x 64 x 4 bytes
    assert tree(tmp_path) == before and no_temp_names(tmp_path)
    assert run.completed_rounds() == [0]


def test_events_that_do_not_fit_leave_no_torn_line(tmp_path, monkeypatch):
    sink = JsonlSink(tmp_path / "events.jsonl")
    sink({"event": "run_started"})
    full_after(monkeypatch, 0)
    with pytest.raises(NoSpace, match="events.jsonl"):
        sink({"event": "round_finished", "round": 0})
    monkeypatch.undo()
    assert (tmp_path / "events.jsonl").read_bytes().endswith(b"}\n")
    sink({"event": "round_finished", "round": 0})  # space again: the next line is whole
    assert [e["event"] for e in read_events(tmp_path / "events.jsonl")] == ["run_started", "round_finished"]


def test_an_export_that_does_not_fit_keeps_the_old_one(tmp_path, monkeypatch):
    from lth_tf.export import export_savedmodel
    from lth_tf.platform.backend import keras

    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(2, name="output")(inp))
    target = tmp_path / "ticket"
    export_savedmodel(model, target)
    before = tree(tmp_path)
    real_open = os.open

    def full_open(path, flags, *a, **k):  # every new file in the new export's folder: disk full
        if ".ticket.lth-" in str(path) and flags & os.O_CREAT:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(os, "open", full_open)
    with pytest.raises(Exception) as e:
        export_savedmodel(model, target)
    monkeypatch.undo()
    msg = str(e.value)
    assert isinstance(e.value, NoSpace) and str(target) in msg and ".lth-" not in msg, msg
    assert tree(tmp_path) == before and no_temp_names(tmp_path)


def test_the_cli_names_the_path_a_temporary_name_stands_for(tmp_path, capsys, monkeypatch):
    temp = tmp_path / "runs" / f".summary.json.lth-{os.getpid()}-abcd1234.tmp"
    inner = tmp_path / "out" / f".t.lth-{os.getpid()}-abcd1234.tmp" / "new" / "variables" / "x"

    def fail(args):
        raise OSError(errno.ENOSPC, "No space left on device", str(temp))

    monkeypatch.setitem(cli.COMMANDS, "presets", fail)
    assert cli.main(["presets"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "runs" / "summary.json") in err and ".lth-" not in err, err
    assert len(err.splitlines()) == 1 and "no space left" in err
    assert atomic.public_path(inner) == tmp_path / "out" / "t" / "variables" / "x"

    def denied(args):
        raise PermissionError(errno.EACCES, "Permission denied", str(temp))

    monkeypatch.setitem(cli.COMMANDS, "presets", denied)
    assert cli.main(["presets"]) == 2
    err = capsys.readouterr().err
    assert "Permission denied" in err and str(tmp_path / "runs" / "summary.json") in err and ".lth-" not in err


def test_free_bytes_finds_the_disk_of_a_path_not_made_yet(tmp_path):
    assert free_bytes(tmp_path / "not" / "yet") == free_bytes(tmp_path)


# -- a real small file system ----------------------------------------------------------------------
@pytest.fixture
def small_fs(tmp_path):
    """A tmpfs of 100 kB at tmp_path/fs (needs root: skipped where mount is refused)."""
    where = tmp_path / "fs"
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=100k", "tmpfs", str(where)],
                       capture_output=True, text=True, check=False)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}); the injected tests cover the write layer")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def grow(fs: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(fs)], check=True)


@pytest.mark.slow  # lth-tf run in subprocesses, into a real full file system
def test_a_run_into_a_full_disk_ends_in_one_line_and_resumes_once_space_is_freed(small_fs, tmp_path):
    r = Launched("run", *SMOKE, "--out", str(small_fs / "runs"), "--quiet", tmp=tmp_path).result(900)
    assert r.code == 2 and "Traceback" not in r.err, r
    last = r.err.splitlines()[-1]
    assert last.startswith("lth-tf: error: no space left to write ") and ".lth-" not in last, r.err
    (run_dir,) = (small_fs / "runs").iterdir()
    assert no_temp_names(small_fs)
    stored = store.RunStore(run_dir).completed_rounds()
    kept = {k: v for k, v in tree(run_dir).items() if k.startswith("rounds/")}
    summary = run_dir / "summary.json"
    if summary.exists():
        json.loads(summary.read_text())  # whole, never half-written

    grow(small_fs, "4m")
    r = Launched("run", *SMOKE, "--out", str(small_fs / "runs"), "--quiet", tmp=tmp_path).result(900)
    assert r.code == 0, r
    if stored:
        assert f"resuming after round {stored[-1]}" in r.err
    after = tree(run_dir)
    assert all(after[k] == v for k, v in kept.items())  # the rounds stored before are untouched
    assert json.loads(summary.read_text())["status"] == "finished"


@pytest.mark.slow  # lth-tf export in a subprocess, onto a real full file system
def test_export_onto_a_full_disk_is_one_line_and_leaves_nothing(smoke_run, small_fs, tmp_path):
    filler = small_fs / "filler"
    filler.write_bytes(b"x" * 60_000)  # 100 kB less this: no room for the ticket's SavedModel
    r = lth("export", str(smoke_run), "--round", "1", "--out", str(small_fs / "t"), tmp=tmp_path)
    assert r.code == 2 and len(r.err.splitlines()) == 1, r
    assert "no space left to write" in r.err and str(small_fs / "t") in r.err and ".lth-" not in r.err, r
    assert sorted(p.name for p in small_fs.iterdir()) == ["filler"]
