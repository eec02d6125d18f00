"""The sweep screen: one row per cell of an `lth-tf sweep`, refreshed from disk.

Each row is a cell's state (done, running, partial, failed, pending), its
completed rounds, its dense test accuracy, and the sparsity and test accuracy of
its ticket so far (the winner rule's choice while it runs), read from the cell's
run directory by `lth_tf.frontends.sweep.index` (the sweep's processes write; this
screen only reads, so it can watch a sweep running elsewhere). Enter opens the
cell's run view (the footer says so: `⏎ Open cell`); `q` there comes back here.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from lth_tf.core.errors import LthError
from lth_tf.frontends.sweep import index as sweep_index
from lth_tf.storage import rundir
from tui.screens.run import RunScreen
from tui.state import pct

REFRESH_SECONDS = 1.0
# Two-line headers keep the table within 80 columns.
COLUMNS = ("setting", "seed", "state", "rounds", "dense\ntest", "ticket\nsparsity", "ticket\ntest")


class CellsTable(DataTable):
    """The cells; Enter (shown in the footer, unlike DataTable's own) opens the cell's run."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "select_cursor", "Open cell")]


class CellRunScreen(RunScreen):
    """A cell's run, attached; `q` goes back to the sweep instead of quitting."""

    def action_quit_run(self) -> None:
        self.stop_follow.set()
        self.app.pop_screen()


class SweepScreen(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "app.quit", "Quit")]

    def __init__(self, sweep_dir: str | Path) -> None:
        super().__init__()
        self.sweep_dir = Path(sweep_dir)
        self.run_dirs: list[Path] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="sweep-status")
        yield CellsTable(id="cells", cursor_type="row", zebra_stripes=True, header_height=2)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.sweep_dir} · sweep"
        table = self.query_one("#cells", DataTable)
        table.border_title = "Cells · ticket: the winner so far"
        for label in COLUMNS:
            table.add_column(Text(label, justify="left"))
        self.refresh_cells()
        self.set_interval(REFRESH_SECONDS, self.refresh_cells)
        table.focus()

    def refresh_cells(self) -> None:
        try:
            statuses = sweep_index.statuses(self.sweep_dir)
        except LthError as e:  # the index is being replaced or was damaged: keep the last view
            self.query_one("#sweep-status", Static).update(str(e))
            return
        table = self.query_one("#cells", DataTable)
        cursor = table.cursor_row
        table.clear()
        self.run_dirs = [s.run_dir for s in statuses]
        for s in statuses:
            sparsity = "–" if s.ticket_sparsity is None else f"{100 * s.ticket_sparsity:.2f}%"
            state = s.state if not s.error else f"{s.state}: {s.error[:60]}"
            table.add_row(s.label, str(s.seed), state, str(s.rounds_done), pct(s.dense_test_acc),
                          sparsity, pct(s.ticket_test_acc))
        if statuses:
            table.move_cursor(row=min(cursor, len(statuses) - 1))
        counts = {}
        for s in statuses:
            counts[s.state] = counts.get(s.state, 0) + 1
        self.query_one("#sweep-status", Static).update(
            f"{len(statuses)} cells: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
            + " · Enter opens a cell's run, q there comes back")

    def action_open_cell(self) -> None:
        table = self.query_one("#cells", DataTable)
        if not self.run_dirs:
            return
        run_dir = self.run_dirs[table.cursor_row]
        if not rundir.events_path(run_dir).exists():
            self.notify("this cell has not started yet", severity="warning")
            return
        self.app.push_screen(CellRunScreen(attach=run_dir))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_cell()
