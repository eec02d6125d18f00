"""The TUI on a real lottery search: the `smoke` preset (synthetic data, seconds).

Step mode trains round 0, waits, trains round 1 on `n`, and `q` leaves a run
that a new LotterySearch resumes at round 2.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from lth_tf.core import config as C
from tui.app import LthApp
from tui.screens import RunScreen
from tui.widgets import LayerBars, RoundsTable

pytestmark = pytest.mark.slow  # the TUI trains a real search

SIZE = (120, 40)


async def wait_for(pilot, condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def test_step_mode_on_smoke_preset_then_resume(tmp_path):
    lottery = pytest.importorskip("lth_tf.search.lottery", reason="lottery search not importable")

    async def body() -> RunScreen:
        app = LthApp(preset="smoke", out=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            assert isinstance(screen, RunScreen) and screen.mode == "step"
            table = screen.query_one(RoundsTable)

            def waiting_after(r: int) -> bool:
                info = screen.state.rounds.get(r)
                return screen.phase == "waiting" and info is not None and info.finished

            await wait_for(pilot, lambda: waiting_after(0) or screen.phase == "failed", 120, "round 0")
            assert screen.phase == "waiting", screen.state.error
            assert table.row_count == 1
            await pilot.press("n")
            await wait_for(pilot, lambda: waiting_after(1) or screen.phase == "failed", 120, "round 1")
            await pilot.pause()
            assert table.row_count == 2
            round1 = screen.state.rounds[1]
            assert 0.4 < round1.sparsity < 0.6  # smoke prunes 50% a round
            bars = screen.query_one(LayerBars)
            assert bars.fractions == round1.layer_sparsity and any(bars.fractions.values())
            shown = str(bars.render())
            for fraction in round1.layer_sparsity.values():
                assert f"{100 * fraction:5.1f}%" in shown
            await pilot.press("q")
            await wait_for(pilot, lambda: not app.is_running, 60, "the exit")
        return screen

    screen = asyncio.run(body())
    assert screen.phase == "stopped"
    exp = C.resolve("smoke")
    run_dir = tmp_path / exp.run_name()
    assert (run_dir / "events.jsonl").exists() and (run_dir / "rounds" / "001").is_dir()
    assert not (run_dir / "rounds" / "002").exists()
    # The same config again resumes: its first round is 2, not 0.
    search = lottery.LotterySearch(exp, out=tmp_path)
    assert search.completed_rounds() == [0, 1]
    rounds = search.rounds()
    try:
        assert next(rounds).round == 2
    finally:
        rounds.close()
