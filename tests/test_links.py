"""lth-tf never writes through a link it did not make, nor deletes what it did not write.

Issue 28 item 6: a re-export onto an earlier export keeps the files a user added
there (or refuses, naming them); a run whose `lock` (or another of its names)
was replaced by a symbolic link is refused before anything is written, and the
link's target is left as it was; the dense reference `lth-tf export` measures a
ticket against is written inside --out, so a kill leaves nothing outside it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers.cli import dead_pid, tree

from lth_tf.core.errors import LthError
from lth_tf.core.events import JsonlSink
from lth_tf.export import MARKER_FILE, description, export_savedmodel, is_our_export
from lth_tf.export.formats import Exported, get
from lth_tf.storage import atomic, store


@pytest.fixture(scope="module")
def model():
    from lth_tf.platform.backend import keras

    inp = keras.Input((3,))
    return keras.Model(inp, keras.layers.Dense(2, name="output")(inp))


# -- re-exports ---------------------------------------------------------------------------------
def test_a_re_export_keeps_the_files_a_user_added(model, tmp_path):
    target = tmp_path / "t"
    export_savedmodel(model, target)
    assert "saved_model.pb" in description(target)["files"]  # the marker lists what it wrote
    (target / "NOTES.md").write_text("served since Monday")
    (target / "docs").mkdir()
    (target / "docs" / "api.txt").write_text("POST /predict")
    (target / "variables" / "README").write_text("inside a folder of ours")
    (target / "empty").mkdir()
    (target / "latest").symlink_to("docs/api.txt")  # a link the user made: kept as a link
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours")
    (target / "outside").symlink_to(outside)

    export_savedmodel(model, target)
    assert is_our_export(target)
    assert (target / "NOTES.md").read_text() == "served since Monday"
    assert (target / "docs" / "api.txt").read_text() == "POST /predict"
    assert (target / "variables" / "README").read_text() == "inside a folder of ours"
    assert (target / "empty").is_dir()
    assert os.readlink(target / "latest") == "docs/api.txt"
    assert (target / "outside").is_symlink() and outside.read_text() == "not ours"
    assert "NOTES.md" not in description(target)["files"]  # still the user's, not ours
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside.txt", "t"]


def test_a_re_export_that_would_overwrite_a_users_file_refuses_naming_it(model, tmp_path):
    target = tmp_path / "t"
    export_savedmodel(model, target)
    doc = json.loads((target / MARKER_FILE).read_text())
    doc["files"].remove("fingerprint.pb")  # as if an older export had not written it
    (target / MARKER_FILE).write_text(json.dumps(doc))
    (target / "fingerprint.pb").write_bytes(b"the user's own file of that name")
    before = tree(tmp_path)
    with pytest.raises(LthError) as e:
        export_savedmodel(model, target)
    msg = str(e.value)
    assert "fingerprint.pb" in msg and "move" in msg and "\n" not in msg
    assert tree(tmp_path) == before


def test_an_export_of_an_older_version_without_a_file_list_keeps_unknown_names(model, tmp_path):
    target = tmp_path / "t"
    export_savedmodel(model, target)
    doc = json.loads((target / MARKER_FILE).read_text())
    del doc["files"]
    (target / MARKER_FILE).write_text(json.dumps(doc))
    (target / "NOTES.md").write_text("mine")
    (target / "model.keras").write_text("an older keras-format export's file")  # ours, not the user's
    export_savedmodel(model, target)
    assert (target / "NOTES.md").read_text() == "mine"
    assert not (target / "model.keras").exists()  # ours then: replaced, neither refused nor carried


def test_the_leftovers_of_a_killed_writer_inside_an_export_are_not_carried(model, tmp_path):
    target = tmp_path / "t"
    export_savedmodel(model, target)
    leftover = target / f".dense.lth-{dead_pid()}-abcd1234.tmp"
    (leftover / "new").mkdir(parents=True)
    export_savedmodel(model, target)
    assert not leftover.exists() and is_our_export(target)


# -- links in a run directory ---------------------------------------------------------------
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "precious.txt"
    path.write_text("the user's data\n")
    return path


def test_a_lock_replaced_by_a_link_is_refused_and_its_target_kept(tmp_path):
    run, target = tmp_path / "run", victim(tmp_path)
    run.mkdir()
    (run / "lock").symlink_to(target)
    for attempt in (store.RunStore(run).check_unlocked, store.RunStore(run).lock):
        with pytest.raises(LthError) as e:
            attempt()
        msg = str(e.value)
        assert "lock" in msg and "link" in msg and "\n" not in msg
        assert target.read_text() == "the user's data\n"
    assert (run / "lock").is_symlink()  # not ours to delete either


def test_a_lock_that_is_a_folder_or_a_fifo_is_refused(tmp_path):
    run = tmp_path / "run"
    (run / "lock").mkdir(parents=True)
    with pytest.raises(LthError, match="not a regular file"):
        store.RunStore(run).lock()
    os.rmdir(run / "lock")
    os.mkfifo(run / "lock")
    with pytest.raises(LthError, match="not a regular file"):
        store.RunStore(run).lock()


@pytest.mark.parametrize("name", ["events.jsonl", "summary.json", "rounds", "tensorboard", "rewind.npz"])
def test_a_run_name_replaced_by_a_link_out_of_the_run_is_refused(tmp_path, name):
    run, target = tmp_path / "run", victim(tmp_path)
    run.mkdir()
    (run / name).symlink_to(target if "." in name else tmp_path)
    with pytest.raises(LthError) as e:
        store.RunStore(run).lock()
    assert name in str(e.value) and "link" in str(e.value)
    assert target.read_text() == "the user's data\n"


def test_a_users_link_inside_an_export_leaves_the_run_resumable(tmp_path):
    """exports/<name>/ is swapped whole, never written into: a user's link there is
    theirs (a re-export carries it), unlike a link in place of exports/<name> itself."""
    run, target = tmp_path / "run", victim(tmp_path)
    (run / "exports" / "dense").mkdir(parents=True)
    (run / "exports" / "dense" / "latest").symlink_to(target)
    store.RunStore(run).check_unlocked()
    with store.RunStore(run).lock():
        pass
    (run / "exports" / "sparse").symlink_to(tmp_path)
    with pytest.raises(LthError, match="sparse"):
        store.RunStore(run).lock()
    assert target.read_text() == "the user's data\n"


def test_the_run_folder_itself_may_be_a_link(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "run").symlink_to(tmp_path / "real")
    with store.RunStore(tmp_path / "run").lock():
        pass
    assert (tmp_path / "real" / "lock").is_file()


def test_events_are_never_appended_through_a_link(tmp_path):
    target = victim(tmp_path)
    (tmp_path / "events.jsonl").symlink_to(target)
    with pytest.raises(LthError, match="link"):
        JsonlSink(tmp_path / "events.jsonl")({"event": "run_started"})
    assert target.read_text() == "the user's data\n"


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_events_are_never_written_into_a_fifo_or_a_folder(tmp_path, kind):
    path = tmp_path / "events.jsonl"
    os.mkfifo(path) if kind == "fifo" else path.mkdir()
    with pytest.raises(LthError) as e:
        JsonlSink(path)({"event": "run_started"})
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and ("FIFO" in msg if kind == "fifo" else "a folder" in msg)


def test_a_recomputed_round_never_deletes_through_a_link(tmp_path):
    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    (elsewhere / "003").mkdir(parents=True)
    (elsewhere / "003" / "keep.txt").write_text("x")
    (run / "rounds").mkdir(parents=True)
    (run / "rounds" / "003").symlink_to(elsewhere / "003")
    import numpy as np

    with pytest.raises(LthError, match="link"):
        store.RunStore(run).save_round(3, [np.zeros(2)], {"a": np.ones(2)}, {"round": 3})
    assert (elsewhere / "003" / "keep.txt").read_text() == "x"


# -- the dense reference of `lth-tf export`'s report ------------------------------------------
def test_the_dense_reference_is_written_inside_the_export_and_removed(model, tmp_path):
    out = tmp_path / "out" / "ticket"
    export_savedmodel(model, out)
    seen = []

    def export_dense(path: Path) -> Path:
        seen.append(path)
        return export_savedmodel(model, path)

    exported = Exported(None, 1, out, None, model, export_dense)
    lines = get("sparse").report(exported)
    assert lines and seen
    assert out in seen[0].parents, f"the dense reference went to {seen[0]}, outside --out"
    assert atomic.TEMP_RE.match(seen[0].parent.name)  # a temporary name: a kill's leftover is ours
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ticket"]
    assert not [p for p in out.iterdir() if atomic.TEMP_RE.match(p.name)]


def test_a_full_disk_for_the_dense_reference_still_reports_the_finished_export(model, tmp_path):
    """The export is complete before its dense reference is written: no space for the
    reference leaves the sizes without the comparison, not an error naming a temporary folder."""
    from lth_tf.core.paths import NoSpace

    out = tmp_path / "ticket"
    export_savedmodel(model, out)

    def export_dense(path: Path) -> Path:
        raise NoSpace(path, 12_345_678)

    lines = get("sparse").report(Exported(None, 1, out, None, model, export_dense))
    assert lines[0].startswith("ticket:") and str(out) in lines[0]
    assert "no dense comparison" in lines[-1] and "complete" in lines[-1]
    assert not any(".tmp" in line for line in lines)
    assert not [p for p in out.iterdir() if atomic.TEMP_RE.match(p.name)]


@pytest.mark.slow  # lth-tf export in a subprocess, killed while it writes the dense reference
def test_a_kill_during_a_sparse_export_leaves_nothing_outside_out(smoke_run, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from helpers.cli import ROOT

    scratch, outer = tmp_path / "tmpdir", tmp_path / "exports"
    scratch.mkdir()
    outer.mkdir()
    out = outer / "sparse"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(scratch)}
    cmd = [sys.executable, "-m", "lth_tf", "export", str(smoke_run), "--round", "1",
           "--format", "sparse", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        if out.is_dir() and any(atomic.TEMP_RE.match(p.name) for p in out.iterdir()):
            break  # the export is in place and the dense reference is being written
        time.sleep(0.05)
    assert proc.poll() is None, "the export ended before its dense reference was written"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert [p.name for p in outer.iterdir()] == ["sparse"]
    assert not [p.name for p in scratch.iterdir() if p.name.startswith(("lth", ".lth"))]
    assert is_our_export(out)
    # the next export to --out leaves no trace of the killed one
    r = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert not [p for p in out.iterdir() if atomic.TEMP_RE.match(p.name)]
    assert [p.name for p in outer.iterdir()] == ["sparse"]


@pytest.mark.slow  # lth-tf in subprocesses
def test_cli_run_refuses_a_linked_lock_before_tensorflow(smoke_run, tmp_path):
    from helpers.cli import SMOKE, assert_user_error, lth

    target = victim(tmp_path)
    (smoke_run / "lock").unlink(missing_ok=True)
    (smoke_run / "lock").symlink_to(target)
    before = tree(smoke_run)
    r = lth("run", *SMOKE, "--out", "runs", tmp=tmp_path)
    assert_user_error(r, "lock", "symbolic link", str(target))
    assert not r.tf_imported
    assert target.read_text() == "the user's data\n" and tree(smoke_run) == before
