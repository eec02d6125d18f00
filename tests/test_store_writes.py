"""Writes never touch what lth-tf did not write; leftovers are cleaned; one process per run.

Issue 13 items 3 and 4: marked exports and a swap that keeps the old export
when it fails, temporary names cleaned by exact form on the next run, and the
run-directory lock tested with two real processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers.cli import ROOT, SMOKE, assert_user_error, lth, tree

from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.export import MARKER_FILE, export_savedmodel, is_our_export
from lth_tf.storage import atomic, store


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# -- atomic writes and leftovers -------------------------------------------------------------
def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    (tmp_path / "a.json").write_text("old")

    def fail(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic.write_bytes_atomic(tmp_path / "a.json", fail)
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert (tmp_path / "a.json").read_text() == "old"


def plant(folder: Path, names: list[str], as_dir: bool = False) -> None:
    for name in names:
        if as_dir:
            (folder / name).mkdir(parents=True)
            (folder / name / "f").write_text("x")
        else:
            (folder / name).write_text("x")


def test_only_our_names_of_dead_writers_are_cleaned(tmp_path):
    dead, live = dead_pid(), os.getpid()
    ours_dead = [f".summary.json.lth-{dead}-abcd_123.tmp", f".003.lth-{dead}-zz99aa00.tmp"]
    ours_live = [f".summary.json.lth-{live}-abcd_123.tmp"]
    legacy = [".summary.json.k2j4h5g6.tmp", ".002.tmp", ".ticket.a1b2c3d4"]
    users = [
        ".summary.json.tmp", "notes.tmp", ".ticket.backup-mine", ".ticket.a1b2c3d4e",
        f".x.lth-{dead}-short.tmp", f"summary.json.lth-{dead}-abcd_123.tmp", ".mine.k2j4h5g6.tmp",
    ]
    plant(tmp_path, ours_dead[:1] + ours_live + legacy[:1] + users[:2] + users[4:])
    plant(tmp_path, ours_dead[1:] + legacy[1:] + users[2:4], as_dir=True)

    removed = atomic.clean_leftovers([tmp_path])  # outside run dirs: no legacy names
    assert sorted(p.name for p in removed) == sorted(ours_dead)
    removed = atomic.clean_leftovers([tmp_path], legacy=True)
    assert sorted(p.name for p in removed) == sorted(legacy)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(ours_live + users)


def test_a_swap_cut_short_gets_its_old_folder_back(tmp_path):
    """Killed between the fallback's two renames: the old export waits in the temp folder."""
    work = tmp_path / f".t.lth-{dead_pid()}-abcdefgh.tmp"
    (work / atomic.SPARE_NAME).mkdir(parents=True)
    (work / atomic.SPARE_NAME / "saved_model.pb").write_text("old export")
    atomic.clean_leftovers([tmp_path], target="t")
    assert (tmp_path / "t" / "saved_model.pb").read_text() == "old export"
    assert [p.name for p in tmp_path.iterdir()] == ["t"]


def test_exchange_swaps_two_folders_in_one_step(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    plant(tmp_path, ["a", "b"], as_dir=True)
    (a / "f").write_text("A")
    if not atomic.exchange(a, b):
        pytest.skip("no renameat2(RENAME_EXCHANGE) here: replace_dir uses its fallback")
    assert (a / "f").read_text() == "x" and (b / "f").read_text() == "A"


# -- exports -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    from lth_tf.platform.backend import keras

    inp = keras.Input((3,))
    return keras.Model(inp, keras.layers.Dense(2, name="output")(inp))


def test_an_export_is_marked_and_replaces_only_an_export_of_ours(model, tmp_path):
    target = tmp_path / "t"
    export_savedmodel(model, target)
    assert is_our_export(target) and (target / MARKER_FILE).is_file()
    export_savedmodel(model, target)  # ours: replaced
    assert is_our_export(target)
    assert [p.name for p in tmp_path.iterdir()] == ["t"], "temporary folders left"

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "saved_model.pb").write_bytes(b"someone else's model")
    (foreign / "notes.txt").write_text("mine")
    empty = tmp_path / "empty"
    empty.mkdir()
    before = tree(tmp_path)
    for path in (foreign, empty, tmp_path / "t" / "saved_model.pb"):
        with pytest.raises(LthError, match="lth-tf did not export"):
            export_savedmodel(model, path)
    assert tree(tmp_path) == before and empty.is_dir()


def test_a_failed_swap_keeps_the_old_export(model, tmp_path, monkeypatch):
    target = tmp_path / "t"
    export_savedmodel(model, target)
    before = tree(target)
    # No atomic exchange, and the rename that would put the new export in place fails once.
    monkeypatch.setattr(atomic, "exchange", lambda a, b: False, raising=False)
    real_rename, failed = os.rename, []

    def rename(src, dst, *a, **k):
        if Path(dst) == target and not failed:
            failed.append(src)
            raise OSError(28, "No space left on device")
        return real_rename(src, dst, *a, **k)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError):
        export_savedmodel(model, target)
    assert failed, "the swap was not attempted"
    assert tree(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["t"], "temporary folders left"


@pytest.mark.slow  # lth-tf export in a subprocess
def test_cli_export_refuses_a_foreign_savedmodel_folder(tmp_path):
    exp = C.resolve("smoke", overrides=SMOKE[3::2])
    run_dir = tmp_path / "runs" / exp.run_name()
    store.RunStore(run_dir).claim(exp.to_toml(), exp.hash())
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "saved_model.pb").write_bytes(b"\x08\x01 not ours")
    (tmp_path / "dir" / "variables").mkdir()
    (tmp_path / "dir" / "keep.txt").write_text("mine")
    before = tree(tmp_path)
    r = lth("export", str(run_dir), "--out", "dir", tmp=tmp_path)
    assert_user_error(r, "export target dir", "did not export")
    assert not r.tf_imported and tree(tmp_path) == before


# -- the run-directory lock --------------------------------------------------------------------
HOLDER = """
import sys, time
from lth_tf.storage import store
held = store.RunStore(sys.argv[1]).lock()
print("locked", flush=True)
time.sleep(600)
"""


def hold(run_dir: Path) -> subprocess.Popen:
    p = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert p.stdout.readline().strip() == "locked"
    return p


@pytest.mark.slow  # a lock holder and lth-tf runs in subprocesses
def test_two_processes_on_one_run_dir(tmp_path):
    exp = C.resolve("smoke", overrides=SMOKE[3::2])
    run_dir = tmp_path / "runs" / exp.run_name()
    holder = hold(run_dir)
    try:
        r = lth("run", *SMOKE, "--out", "runs", tmp=tmp_path)
        assert_user_error(r, f"process {holder.pid} on ", "in use")
        assert not r.tf_imported
        assert [p.name for p in run_dir.iterdir()] == ["lock"]  # nothing else written
        with pytest.raises(LthError, match=f"process {holder.pid} "):
            store.RunStore(run_dir).lock()  # the lock itself, not only the early check
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()

    # The killed holder's stale lock is taken over, and its leftovers are cleaned.
    dead = holder.pid
    ours = [f".summary.json.lth-{dead}-abcdefgh.tmp", ".rewind.npz.q1w2e3r4.tmp"]
    users = ["notes.tmp", ".summary.json.tmp"]
    plant(run_dir, ours + users)
    plant(run_dir, [".ticket.a1b2c3d4", f".ticket.lth-{dead}-abcdefgh.tmp"], as_dir=True)
    plant(run_dir / "rounds", [f".000.lth-{dead}-abcdefgh.tmp"], as_dir=True)
    r = lth("run", *SMOKE, "--out", "runs", tmp=tmp_path)
    assert r.code == 0, r
    left = {p.name for p in run_dir.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp")}
    assert left == set(users)
    assert sorted(p.name for p in (run_dir / "rounds").iterdir()) == ["000", "001", "002"]
    assert is_our_export(run_dir / "ticket")
    assert (run_dir / "lock").read_text() == ""  # released


def test_the_lock_is_reentrant_for_its_thread_only(tmp_path):
    s = store.RunStore(tmp_path / "run")
    with s.lock():
        with s.lock():  # e.g. the CLI around a search that takes it too
            pass
        errors = []

        def other():
            try:
                s.lock()
            except LthError as e:
                errors.append(str(e))

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert errors and f"pid {os.getpid()}" in errors[0]
        s.check_unlocked()  # this process holds it: not an error here
    with s.lock():  # released: free again
        pass
