"""Test tiers, Hypothesis profiles and the fixtures several test modules share.

Tiers: `pytest` runs the fast tier (pure logic and tiny in-process models; the
default `-m` in pyproject.toml); `pytest -m "slow or cluster"` runs the rest:
subprocess CLI runs, real data, kill-and-resume, sweeps, training-heavy searches,
TUI runs that train (`slow`), and multi-worker, mirrored or Ray runs (`cluster`).
.ci/run runs both. Every collected test is in exactly one of the two selections;
`pytest_collection_modifyitems` below refuses a run where that is not so.

Hypothesis: the "dev" profile (the default) draws fewer examples, "ci" draws many;
HYPOTHESIS_PROFILE=ci (or CI=true) picks "ci". Tests that set max_examples
themselves (the fuzz tests, whose examples cost seconds) keep their own count.

Helpers shared by tests live in tests/helpers/, never in a test module.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# -- tiers -------------------------------------------------------------------------------------
MARKERS = {
    "slow": "subprocess CLI runs, real data, kill/resume, sweeps, training-heavy searches, "
    "TUI runs that train; run with -m 'slow or cluster'",
    "cluster": "multi-worker, mirrored or Ray runs; run with -m 'slow or cluster'",
}
FULL_TIER = "slow or cluster"  # .ci/run and the README run the rest with this expression


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def _default_expression(config: pytest.Config) -> str:
    """The `-m` expression in pyproject's addopts: the fast tier."""
    args = config.getini("addopts")
    return next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "-m"), "")


def _selected(expression: str, item: pytest.Item) -> bool:
    # The tier expressions use only marker names, `not`, `and`, `or` and parentheses:
    # valid Python once each name is a bool.
    names = {name: item.get_closest_marker(name) is not None for name in MARKERS}
    return bool(eval(expression, {"__builtins__": {}}, names))


@pytest.hookimpl(tryfirst=True)  # before -m deselects: see the whole collection
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    fast = _default_expression(config)
    if not fast:  # addopts overridden (`-o addopts=...`): no default tier to check
        return
    both = [i.nodeid for i in items if _selected(fast, i) and _selected(FULL_TIER, i)]
    neither = [i.nodeid for i in items if not _selected(fast, i) and not _selected(FULL_TIER, i)]
    if both or neither:
        raise pytest.UsageError(
            f"tiers {fast!r} and {FULL_TIER!r} must split the tests: in both {both[:5]}, "
            f"in neither {neither[:5]}"
        )


# -- Hypothesis --------------------------------------------------------------------------------
# Property tests of pure logic take milliseconds an example; "ci" runs ten times as many.
settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile(
    "ci", max_examples=250, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


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
