"""The TUI at 80x24 (compact: panels stack, status and key hints stay on screen)
and at 120x40 (every panel, no text cut). No TensorFlow: a recorded run is
replayed, or the fake search of test_tui drives step mode.
"""

from __future__ import annotations

import asyncio

import pytest
from helpers.tui import (
    FIXTURE,
    LARGE,
    SMALL,
    footer_keys_fit,
    on_top,
    replay_done,
    shown_text,
    wait_for,
)

from tui.app import LthApp
from tui.screens import RunScreen, StartScreen
from tui.screens.layout import VIEWS, is_compact
from tui.state import RoundInfo
from tui.widgets import LayerBars, RoundsTable


def test_compact_threshold():
    assert is_compact(*SMALL) and is_compact(120, 30) and is_compact(100, 40)
    assert not is_compact(*LARGE)


def test_replayed_run_at_80x24_shows_status_footer_and_each_panel_in_turn():
    async def body():
        app = LthApp(attach=FIXTURE)
        async with app.run_test(size=SMALL) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: replay_done(screen), what="the replay")
            await pilot.pause()
            assert screen.has_class("compact")
            status = screen.query_one("#status")
            assert on_top(screen, status)
            assert shown_text(status) == f"✓ done · {screen.ticket_text()}"
            await footer_keys_fit(pilot, screen, ["e", "v", "q", "ctrl+p"])
            table = screen.query_one(RoundsTable)
            assert on_top(screen, table)
            # Every column whole: nothing to scroll sideways.
            assert table.virtual_size.width <= table.scrollable_content_region.width
            # `v` shows the other panels one by one under the table, all on screen.
            seen = []
            for _ in VIEWS:
                panel = screen.query_one({"chart": "#chart", "layers": "#layers",
                                          "curves": "#curves", "log": "#log"}[screen.view])
                assert on_top(screen, panel) and panel.region.height >= 6, screen.view
                others = [w for w in ("#chart", "#layers", "#curves", "#log")
                          if screen.query_one(w) is not panel]
                assert all(screen.query_one(w).region.area == 0 for w in others)
                assert on_top(screen, status) and on_top(screen, table)
                seen.append(screen.view)
                await pilot.press("v")
                await pilot.pause()
            assert seen == list(VIEWS) and screen.view == VIEWS[0]
            # A long status wraps onto more lines instead of being cut.
            long = "the run failed: " + " ".join(f"word{i}" for i in range(30))
            screen.set_status(long, "error")
            await pilot.pause()
            assert shown_text(status) == long and on_top(screen, status)
            await footer_keys_fit(pilot, screen, ["e", "v", "q", "ctrl+p"])
            await pilot.press("q")

    asyncio.run(body())


def test_step_mode_at_80x24_keeps_every_key_hint(fake_lottery, tmp_path):
    async def body():
        app = LthApp(preset="smoke", out=tmp_path)
        async with app.run_test(size=SMALL) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.phase == "waiting", what="round 0")
            await pilot.pause()
            await footer_keys_fit(pilot, screen, ["n", "c", "p", "e", "v", "q", "ctrl+p"])
            status = screen.query_one("#status")
            assert on_top(screen, status)
            assert shown_text(status) == "⏸ waiting — n: round 1 · c: run to the end"
            await pilot.press("q")

    asyncio.run(body())


def test_replayed_run_at_120x40_shows_every_panel_and_cuts_no_text():
    async def body():
        app = LthApp(attach=FIXTURE)
        async with app.run_test(size=LARGE) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: replay_done(screen), what="the replay")
            await pilot.pause()
            assert not screen.has_class("compact")
            for panel in ("#rounds", "#layers", "#chart", "#curves", "#log", "#status"):
                widget = screen.query_one(panel)
                assert on_top(screen, widget), panel
                title = widget.border_title or ""
                assert len(str(title)) + 4 <= widget.region.width, panel  # the title is whole
            await footer_keys_fit(pilot, screen, ["e", "q", "ctrl+p"])  # `v`: nothing hidden
            table = screen.query_one(RoundsTable)
            assert table.virtual_size.width <= table.scrollable_content_region.width
            status = screen.query_one("#status")
            assert shown_text(status) == f"✓ done · {screen.ticket_text()}"
            # The longest step-mode status and a long error are shown whole.
            for text in ("⏸ waiting — n: controls and the ticket · c: run to the end",
                         "✗ failed: " + " ".join(f"word{i}" for i in range(30))):
                screen.set_status(text)
                await pilot.pause()
                assert shown_text(status) == text
                assert on_top(screen, status) and on_top(screen, screen.query_one("#log"))
            # A ResNet layer name is shown whole in the layer panel.
            names = {"stem_conv": 0.2, "stage2_block1_shortcut_conv": 0.5, "output": 0.1}
            bars = screen.query_one(LayerBars)
            bars.show(RoundInfo(round=1, finished=True, layer_sparsity=names))
            await pilot.pause()
            shown = shown_text(bars)
            for name, fraction in names.items():
                assert name in shown and f"{100 * fraction:.1f}%" in shown
            await pilot.press("q")

    asyncio.run(body())


def test_start_screen_at_80x24_shows_form_buttons_and_footer(tmp_path):
    async def body():
        app = LthApp(out=tmp_path)
        async with app.run_test(size=SMALL) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, StartScreen) and screen.has_class("compact")
            for wid in ("#set-rounds", "#set-rate", "#set-rewind", "#set-kd", "#set-alpha",
                        "#set-temperature", "#out", "#data-dir", "#start", "#plan", "#run-path", "#open"):
                assert on_top(screen, screen.query_one(wid)), wid
            assert shown_text(screen.query_one("#plan")).endswith(screen.experiment().run_name())
            await footer_keys_fit(pilot, screen, ["ctrl+s", "ctrl+o", "ctrl+p"])
            # A bad value's message is shown whole.
            screen.query_one("#set-rate").value = "1.5"
            await pilot.pause()
            error = screen.query_one("#start-error")
            assert on_top(screen, error) and "prune.rate 1.5 is outside (0, 1)" in shown_text(error)

    asyncio.run(body())


def test_run_screen_class_follows_a_resize():
    async def body():
        app = LthApp(attach=FIXTURE)
        async with app.run_test(size=LARGE) as pilot:
            screen = app.screen
            assert isinstance(screen, RunScreen)
            await pilot.pause()
            assert not screen.has_class("compact")
            await pilot.resize_terminal(*SMALL)
            await pilot.pause()
            assert screen.has_class("compact") and on_top(screen, screen.query_one("#status"))
            await pilot.resize_terminal(*LARGE)
            await pilot.pause()
            assert not screen.has_class("compact") and on_top(screen, screen.query_one("#layers"))
            await pilot.press("q")

    asyncio.run(body())


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_s_swaps_the_rounds_table_to_sizes_and_back_within_the_width(size):
    async def body():
        app = LthApp(attach=FIXTURE)
        async with app.run_test(size=size) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: replay_done(screen), what="the replay")
            table = screen.query_one(RoundsTable)
            for info in screen.state.rounds.values():  # the fixture predates sizes: the widest values
                info.inference = {"params": 2_780_000, "nonzeros": 123_456, "flops": 1.23e9}
            table.focus()
            await pilot.press("s")
            await pilot.pause()
            labels = [c.label.plain for c in table.columns.values()]
            assert labels[-3:] == ["Params", "Nonzero", "Inf FLOPs"] and "KD s/d/t" not in labels
            assert table.get_cell("1", "nonzeros").plain == "123k"
            assert table.virtual_size.width <= table.scrollable_content_region.width
            assert "s: training" in str(table.border_title)
            await pilot.press("s")
            await pilot.pause()
            assert [c.label.plain for c in table.columns.values()][-1] == "Σ train"
            assert table.row_count == len(screen.state.rounds)
            await pilot.press("q")

    asyncio.run(body())
