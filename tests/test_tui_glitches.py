"""The TUI glitches a new user met (issue 25), each checked at 80x24 and at 120x40.

No TensorFlow: a recorded run (the KD fixture), a finished run written from scratch
(helpers.tui.write_finished_run), or the fake search of helpers.tui in step mode.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from helpers.tui import (
    FIXTURE,
    LARGE,
    SMALL,
    footer_keys_fit,
    install_fake_ticket,
    on_top,
    shown_text,
    wait_for,
    write_finished_run,
)
from textual.geometry import Region
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from lth_tf.storage import rundir
from tui.app import LthApp
from tui.screens import RunScreen
from tui.widgets import CurvesPanel, RoundsTable
from tui.widgets.acc_chart import ChartData, draw

SIZES = pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x40"])


async def attached(pilot, app: LthApp) -> RunScreen:
    screen = app.screen
    assert isinstance(screen, RunScreen)
    await wait_for(pilot, lambda: screen.state.status == "finished" and screen.state.ticket
                   and len(screen.state.controls) == 2, timeout=30, what="the replay")
    await pilot.pause(0.1)
    return screen


async def show_panel(pilot, screen: RunScreen, view: str) -> None:
    """Compact layout: press `v` until `view` is the panel under the table (wide: all shown)."""
    while screen.has_class("compact") and screen.view != view:
        await pilot.press("v")
    await pilot.pause(0.05)


def inside(widget, panel) -> bool:
    """The widget is drawn whole inside the panel's content area."""
    return widget.region.area > 0 and panel.content_region.contains_region(widget.region)


# -- the KD panel's "distill" line ---------------------------------------------------------------
@SIZES
def test_the_kd_panel_shows_teacher_student_and_distill_whole(size):
    async def body():
        app = LthApp(attach=FIXTURE)  # KD on: rounds 1-3 have the three losses
        async with app.run_test(size=size) as pilot:
            screen = await attached(pilot, app)
            await show_panel(pilot, screen, "curves")
            curves = screen.query_one(CurvesPanel)
            assert on_top(screen, curves) and str(curves.border_title).startswith("KD losses")
            for i, name in enumerate(("teacher", "student", "distill")):
                label, value = curves.query_one(f"#curve-name-{i}"), curves.query_one(f"#curve-value-{i}")
                spark = curves.query_one(f"#curve-{i}")
                assert shown_text(label) == name
                for part in (label, spark, value):
                    assert inside(part, curves), (name, part.region, curves.content_region)
                    assert on_top(screen, part), name
                assert shown_text(value) != ""

    asyncio.run(body())


# -- the export's feedback: the status line, not a notification over the panels ------------------
@SIZES
def test_an_export_is_reported_in_the_status_line_not_over_the_panels(size, monkeypatch):
    exported: list[int] = []
    search = type("Search", (), {"run_dir": FIXTURE,
                                 "export": lambda self, round, out: exported.append(round) or Path(out)})()
    monkeypatch.setattr("tui.screens.exporting.open_search", lambda run_dir: search)
    install_fake_ticket(monkeypatch)

    async def body():
        app = LthApp(attach=FIXTURE)
        async with app.run_test(size=size) as pilot:
            screen = await attached(pilot, app)
            notes: list[str] = []
            app.notify = lambda message, *a, **k: notes.append(str(message))  # type: ignore[method-assign]
            await pilot.press("e")
            await wait_for(pilot, lambda: exported == [3] and screen.export_round is None, what="the export")
            await pilot.pause(0.1)
            assert notes == []  # no toast covers the panels
            path = rundir.export_dir(FIXTURE, 3)
            status = screen.query_one("#status")
            expected = f"✓ done · {screen.ticket_text()} · round 3 exported → {path}"
            assert shown_text(status).replace(" ", "") == expected.replace(" ", "")  # a long path wraps
            for panel in ("#rounds", "#status", "#chart" if screen.has_class("compact") else "#log"):
                assert on_top(screen, screen.query_one(panel)), panel

    asyncio.run(body())


# -- rows against the header after attaching to a long finished run -------------------------------
def cell_ends(line: str, texts: list[str]) -> list[int]:
    """Where each of `texts` ends in `line`, found left to right."""
    ends, at = [], 0
    for text in texts:
        assert text in line[at:], f"{text!r} is not drawn in {line!r}"
        i = line.index(text, at)
        ends.append(i + len(text))
        at = i + len(text)
    return ends


def assert_rows_line_up(table: RoundsTable) -> None:
    """Every row drawn ends each cell where the header ends that column's label (right-justified)."""
    lines = [strip.text for strip in table.render_lines(Region(0, 0, *table.outer_size))]
    labels = [str(c.label) for c in table.columns.values()]
    header = next(line for line in lines if "Sparsity" in line)
    expected = cell_ends(header, labels)
    drawn = 0
    for line in lines:
        key = line.strip("│ ").split(" ")[0]
        if not key.isdigit() or key not in table.rows:
            continue
        cells = [str(c) for c in table.get_row(key)]
        kept = [(c, e) for c, e in zip(cells, expected) if c.strip()]  # blank cells: nothing to find
        assert cell_ends(line, [c for c, _ in kept]) == [e for _, e in kept], (line, header)
        drawn += 1
    assert drawn >= min(len(table.rows), 5)


@SIZES
def test_a_long_finished_run_attached_has_its_rows_under_the_header(size, tmp_path):
    run_dir = write_finished_run(tmp_path / "cora-gcn-20", rounds=20, epochs=20)

    async def body():
        app = LthApp(attach=run_dir)
        async with app.run_test(size=size) as pilot:
            screen = await attached(pilot, app)
            table = screen.query_one(RoundsTable)
            assert table.row_count == 21
            assert_rows_line_up(table)  # the newest rows, where following left the cursor
            table.focus()
            for _ in range(20):
                await pilot.press("up")
            await pilot.pause(0.1)
            assert table.round_at_cursor() == 0
            assert_rows_line_up(table)  # rows 0-10
            # each column as wide as its widest cell: nothing left from training ("ep 20/20")
            time = table.columns[next(k for k in table.columns if k.value == "time")]
            assert time.width == max(len("Time"), *(len(str(table.get_cell(k, "time"))) for k in table.rows))
            assert table.virtual_size.width <= table.scrollable_content_region.width
            await pilot.press("s", "s")
            await pilot.pause(0.1)
            assert_rows_line_up(table)

    asyncio.run(body())


# -- step mode: the keys, their names and the title ----------------------------------------------
def footer_descriptions(screen) -> dict[str, str]:
    return {k.key: k.description for k in screen.query_one(Footer).query(FooterKey) if k.region.area}


@SIZES
def test_step_keys_say_what_they_do_and_go_when_the_run_ends(size, fake_lottery, tmp_path):
    async def body():
        app = LthApp(preset="smoke", out=tmp_path)
        async with app.run_test(size=size) as pilot:
            screen = app.screen
            name = screen.exp.run_name()
            compact = ["v"] if screen.has_class("compact") else []
            await wait_for(pilot, lambda: screen.phase == "waiting", what="round 0")
            await footer_keys_fit(pilot, screen, ["n", "c", "p", "e", *compact, "q", "ctrl+p"])
            assert footer_descriptions(screen)["p"] == "Wait after round"  # not "Pause": it never interrupts
            assert screen.sub_title == f"{name} · step mode"
            search = fake_lottery.instances[0]
            search.release.clear()  # round 1 hangs in its first epoch
            await pilot.press("c")
            await wait_for(pilot, lambda: 1 in screen.state.rounds, what="round 1 to start")
            assert screen.sub_title == f"{name} · running to the end"
            await pilot.press("p")
            assert screen.sub_title == f"{name} · step mode"
            assert "the run waits after the round in training" in screen.query_one("#log").lines[-1].text
            search.release.set()
            await wait_for(pilot, lambda: screen.phase == "waiting", what="the wait after round 1")
            assert screen.state.rounds[1].finished and 2 not in screen.state.rounds  # it did wait
            await pilot.press("c")
            await wait_for(pilot, lambda: screen.phase == "finished", what="the end")
            assert screen.sub_title == f"{name} · finished"
            await footer_keys_fit(pilot, screen, ["e", *compact, "q", "ctrl+p"])  # nothing to step

    asyncio.run(body())


# -- the cumulative training-FLOPs column ----------------------------------------------------------
@SIZES
def test_the_cumulative_column_says_it_is_training_flops(size):
    async def body():
        app = LthApp(attach=FIXTURE)
        async with app.run_test(size=size) as pilot:
            screen = await attached(pilot, app)
            table = screen.query_one(RoundsTable)
            labels = {c.key.value: str(c.label) for c in table.columns.values()}
            assert labels["cost"] == "Σ train" and "FLOPs" not in labels.values()
            title = str(table.border_title)
            assert "Σ train: training FLOPs to here" in title
            assert len(title) + 4 <= table.region.width  # the title is shown whole
            assert table.virtual_size.width <= table.scrollable_content_region.width
            table.focus()
            await pilot.press("s")
            await pilot.pause(0.05)
            assert [str(c.label) for c in table.columns.values()][-1] == "Inf FLOPs"  # per example

    asyncio.run(body())


# -- controls on one cell of the chart -------------------------------------------------------------
def test_controls_on_the_same_cell_are_all_drawn():
    data = ChartData(rounds=[(0, 0.0, 0.80), (1, 0.5, 0.79)], dense=0.80,
                     controls=[("random_mask", 0.5, 0.79), ("random_reinit", 0.5, 0.79)], ticket_round=1)
    for width, height in [(76, 8), (68, 13), (30, 6)]:
        plot = "\n".join(draw(data, width, height).plain.split("\n")[:-1])  # the legend aside
        assert plot.count("★") == plot.count("×") == plot.count("+") == 1, plot


@SIZES
def test_a_random_mask_control_is_not_hidden_under_random_reinit(size, tmp_path):
    # both controls and the last round (the ticket) at one accuracy: one cell of the chart
    run_dir = write_finished_run(tmp_path / "run", rounds=3, epochs=2,
                                 controls={"random_reinit": 0.814, "random_mask": 0.814})

    async def body():
        app = LthApp(attach=run_dir)
        async with app.run_test(size=size) as pilot:
            screen = await attached(pilot, app)
            await show_panel(pilot, screen, "chart")
            chart = screen.query_one("#chart")
            assert on_top(screen, chart)
            lines = [s.text for s in chart.render_lines(Region(0, 0, *chart.outer_size))]
            (legend,) = [line for line in lines if "random mask" in line]
            assert "+ random mask" in legend and "× random reinit" in legend and "★ ticket" in legend
            plot = "\n".join(line for line in lines if line is not legend)
            assert plot.count("+") == plot.count("×") == plot.count("★") == 1, plot

    asyncio.run(body())
