"""Where an export may go (`lth_tf.export.check_target`): never over a user's files, and over
another run's export only with --force; a run copied or moved keeps its own exports. No TensorFlow."""

from __future__ import annotations

import json
import shutil

import pytest

from lth_tf.core.errors import LthError
from lth_tf.export import MARKER_FILE, SAVED_MODEL_FILE, check_target, export_source


def fake_export(path, run_dir, round=2):
    """A folder that looks like an export of ours, of `run_dir`'s `round`."""
    path.mkdir(parents=True)
    (path / SAVED_MODEL_FILE).write_bytes(b"pb")
    marker = {"written_by": "lth-tf", "source": export_source(run_dir, "h", round)}
    (path / MARKER_FILE).write_text(json.dumps(marker))
    return path


def test_another_runs_export_is_replaced_only_with_force(tmp_path):
    target = fake_export(tmp_path / "out", tmp_path / "runs" / "a")
    mine = export_source(tmp_path / "runs" / "b", "h", -1)
    with pytest.raises(LthError, match=r"holds round 2 of another run .*pass --force"):
        check_target(target, mine)
    assert check_target(target, mine, force=True) == target
    assert check_target(target, export_source(tmp_path / "runs" / "a", "h", -1)) == target  # its own


def test_a_copied_run_keeps_its_own_exports(tmp_path):
    """The exports inside a run name the run's old path once it is copied (the CLI tests' smoke
    run is such a copy): they are still the run's, while the original's stay another run's."""
    run = tmp_path / "runs" / "a"
    fake_export(run / "exports" / "round_002", run)
    copy = tmp_path / "copy" / "a"
    shutil.copytree(run, copy)
    mine = export_source(copy, "h", -1)
    assert check_target(copy / "exports" / "round_002", mine) == copy / "exports" / "round_002"
    with pytest.raises(LthError, match="another run"):
        check_target(run / "exports" / "round_002", mine)


def test_a_users_folder_is_never_replaced(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.txt").write_text("mine")
    for force in (False, True):
        with pytest.raises(LthError, match="lth-tf did not export"):
            check_target(tmp_path / "mine", export_source(tmp_path / "run", "h", -1), force=force)
