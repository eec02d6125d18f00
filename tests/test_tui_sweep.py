"""`lth-tui --attach SWEEP_DIR`: a row per cell, Enter opens a cell's run, q comes back.
No TensorFlow: the cells are a recorded run and a cell that never started."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from helpers.tui import (
    FIXTURE,
    LARGE,
    SIZE,
    SMALL,
    footer_keys_fit,
    replay_done,
    shown_text,
    wait_for,
)
from textual.widgets import DataTable

from lth_tf.frontends.sweep import index as I
from lth_tf.frontends.sweep.grid import Cell
from lth_tf.storage.atomic import write_json_atomic
from tui.app import LthApp
from tui.screens.sweep import CellRunScreen, SweepScreen


def make_sweep(tmp_path):
    sweep_dir = tmp_path / "sw"
    planned = [I.PlannedCell(Cell(("prune.rewind=init",), 0), FIXTURE.name, ("prune.rewind=init", "seed=0")),
               I.PlannedCell(Cell(("prune.rewind=init",), 1), "not-started-yet", ("prune.rewind=init", "seed=1"))]
    index = I.new_index({"preset": "smoke", "config": None, "overrides": [], "data_dir": None},
                        [("prune.rewind", ["init"])], [0, 1], planned)
    I.claim(sweep_dir, index)
    shutil.copytree(FIXTURE, I.runs_dir(sweep_dir) / FIXTURE.name)
    return sweep_dir


def rows(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def test_sweep_screen_lists_cells_and_opens_one(tmp_path):
    sweep_dir = make_sweep(tmp_path)
    ticket = json.loads((FIXTURE / "summary.json").read_text())["ticket"]

    async def body():
        app = LthApp(attach=sweep_dir)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            assert isinstance(screen, SweepScreen)
            table = screen.query_one("#cells", DataTable)
            await wait_for(pilot, lambda: table.row_count == 2, what="two cells")
            done, pending = rows(table)
            assert done[:3] == ["prune.rewind=init", "0", "done"]
            assert done[3] == "4" and done[5] == f"{100 * ticket['sparsity']:.2f}%"
            assert pending[2:] == ["pending", "0", "–", "–", "–"]
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, CellRunScreen), what="the cell's run")
            cell_screen = app.screen
            await wait_for(pilot, lambda: replay_done(cell_screen), what="the replay")
            await pilot.press("q")
            await wait_for(pilot, lambda: app.screen is screen, what="back to the sweep")
            await pilot.press("down", "enter")
            await pilot.pause(0.2)
            assert app.screen is screen  # a cell that never started does not open
            assert app.is_running

    asyncio.run(body())


def test_sweep_screen_follows_a_failure_recorded_later(tmp_path):
    sweep_dir = make_sweep(tmp_path)

    async def body():
        app = LthApp(attach=sweep_dir)
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one("#cells", DataTable)
            await wait_for(pilot, lambda: table.row_count == 2, what="two cells")
            I.record_failure(sweep_dir, "prune.rewind=init__seed=1", 2, "lth-tf: error: no such data")
            await wait_for(pilot, lambda: rows(table)[1][2].startswith("failed: lth-tf: error"),
                           timeout=5, what="the failure")

    asyncio.run(body())


def test_a_damaged_index_keeps_the_screen_up(tmp_path):
    sweep_dir = make_sweep(tmp_path)

    async def body():
        app = LthApp(attach=sweep_dir)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            table = screen.query_one("#cells", DataTable)
            await wait_for(pilot, lambda: table.row_count == 2, what="two cells")
            write_json_atomic(I.index_path(sweep_dir), {"kind": I.KIND})
            await pilot.pause(1.5)
            assert table.row_count == 2 and app.screen is screen

    asyncio.run(body())


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x40"])
def test_sweep_screen_shows_accuracies_and_that_enter_opens_a_cell(tmp_path, size):
    """Issue 25: no accuracy column, and nothing said Enter opens a cell (the table's own
    Enter hid the screen's from the footer)."""
    sweep_dir = make_sweep(tmp_path)
    summary = json.loads((FIXTURE / "summary.json").read_text())

    async def body():
        app = LthApp(attach=sweep_dir)
        async with app.run_test(size=size) as pilot:
            screen = app.screen
            table = screen.query_one("#cells", DataTable)
            await wait_for(pilot, lambda: table.row_count == 2, what="two cells")
            labels = [" ".join(str(c.label).split()) for c in table.columns.values()]
            assert labels[4:] == ["dense test", "ticket sparsity", "ticket test"]
            done = rows(table)[0]
            assert done[4] == f"{100 * summary['dense']['test_acc']:.1f}%"
            assert done[6] == f"{100 * summary['ticket']['test_acc']:.1f}%"
            assert table.virtual_size.width <= table.scrollable_content_region.width  # no sideways scroll
            await footer_keys_fit(pilot, screen, ["enter", "q", "ctrl+p"])
            (enter,) = [k for k in screen.query("FooterKey") if k.key == "enter"]
            assert enter.description == "Open cell"
            assert "Enter opens a cell's run" in shown_text(screen.query_one("#sweep-status"))
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, CellRunScreen), what="the cell's run")

    asyncio.run(body())
