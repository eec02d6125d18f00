"""SVG snapshots (pytest-textual-snapshot) of the start screen and of a replayed run.

Update after an intended change with `pytest tests/test_tui_snapshots.py --snapshot-update`
and look at the report. Nothing shown depends on the clock or the machine:
the run screen shows a recorded fixture run, and paths are the fixture's own.
"""

from __future__ import annotations

import time

from helpers.tui import FIXTURE, SIZE

from tui.app import LthApp
from tui.screens import RunScreen


def test_start_screen(snap_compare):
    assert snap_compare(LthApp(out="checkpoints"), terminal_size=SIZE)


async def replayed(pilot) -> None:
    deadline = time.monotonic() + 10
    while True:
        screen = pilot.app.screen
        if isinstance(screen, RunScreen):
            s = screen.state
            if s.status == "finished" and s.ticket and len(s.controls) == 2:
                break
        assert time.monotonic() < deadline, "the replay did not finish"
        await pilot.pause(0.02)
    await pilot.pause(0.1)


def test_run_screen_after_replaying_a_finished_run(snap_compare):
    assert snap_compare(LthApp(attach=FIXTURE), terminal_size=SIZE, run_before=replayed)


def test_run_screen_at_80x24(snap_compare):
    """Compact: the rounds table over the chart, the status on its own line."""
    assert snap_compare(LthApp(attach=FIXTURE), terminal_size=(80, 24), run_before=replayed)


def test_start_screen_at_80x24(snap_compare):
    assert snap_compare(LthApp(out="checkpoints"), terminal_size=(80, 24))


def test_kd_curves_at_80x24(snap_compare):
    """Compact, the curves panel: teacher, student and distill each with its sparkline and value."""

    async def curves(pilot) -> None:
        await replayed(pilot)
        await pilot.press("v", "v")  # chart -> layers -> curves
        await pilot.pause(0.1)

    assert snap_compare(LthApp(attach=FIXTURE), terminal_size=(80, 24), run_before=curves)
