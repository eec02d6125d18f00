"""Fixtures several test modules share; the helpers they share are in tests/helpers/.

Helpers shared by tests live in tests/helpers/, never in a test module.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


# -- a finished smoke run, made once per session -----------------------------------------------
@pytest.fixture(scope="session")
def smoke_run_session(tmp_path_factory) -> Path:
    """`lth-tf run` of helpers.cli.SMOKE, in-process, once: its run directory.

    The smoke preset (synthetic images, tiny CNN, 2 rounds at rate 0.5, a random_reinit
    control), one epoch a round, tolerance 1.0 so round 2 is the exported ticket; report.md
    and accuracy.png written. Shared by every test that asks for it: read it, never write
    to it (take `smoke_run`, a copy).
    """
    import contextlib
    import io

    from helpers.cli import SMOKE

    from lth_tf.frontends.cli import main as cli

    out = tmp_path_factory.mktemp("smoke-session") / "runs"
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = cli.main(["run", *SMOKE, "--out", str(out), "--quiet"])
    assert code == 0, err.getvalue()
    (run_dir,) = [d for d in out.iterdir() if d.is_dir()]
    return run_dir


@pytest.fixture
def smoke_run(smoke_run_session: Path, tmp_path: Path) -> Path:
    """A copy of the session's finished smoke run, as tmp_path/runs/RUN_NAME: change it freely."""
    return Path(shutil.copytree(smoke_run_session, tmp_path / "runs" / smoke_run_session.name))


# -- the TUI's fake search ---------------------------------------------------------------------
@pytest.fixture
def fake_lottery(monkeypatch):
    """helpers.tui.FakeSearch in place of lth_tf.search.lottery for this test (no TensorFlow)."""
    from helpers.tui import install_fake_lottery

    return install_fake_lottery(monkeypatch)
