"""The run screen's panels: the rounds table's cursor picks the round whose layer
bars and curves show; following keeps it on the newest round."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from tui.state import RoundInfo, RunState, pct
from tui.widgets import AccuracyChart, CurvesPanel, LayerBars, RoundsTable
from tui.widgets.acc_chart import ChartData


class RunPanels:
    """Mixed into RunScreen, which holds the attributes below (and is a textual Screen)."""

    state: RunState
    follow_latest: bool
    _followed_row: int | None
    run_dir: Path | None

    def selected_round(self) -> int | None:
        return self.query_one(RoundsTable).round_at_cursor()

    def follow(self) -> None:
        """Put the cursor on the newest round, if the user has not moved it away."""
        if self.follow_latest and self.state.rounds:
            table = self.query_one(RoundsTable)
            table.move_to_round(max(self.state.rounds))
            self._followed_row = table.cursor_row

    def refresh_round(self, info: RoundInfo) -> None:
        self.query_one(RoundsTable).show_round(info, self.state)
        self.follow()
        if self.selected_round() == info.round or self.follow_latest:
            self.show_details(info)

    def refresh_all(self) -> None:
        table = self.query_one(RoundsTable)
        for r in sorted(self.state.rounds):
            table.show_round(self.state.rounds[r], self.state)
        self.follow()
        sel = self.selected_round()
        self.show_details(self.state.rounds.get(sel) if sel is not None else None)
        self.refresh_chart()

    def show_details(self, info: RoundInfo | None) -> None:
        """Layer bars and curves for one round (the selected one)."""
        self.query_one(LayerBars).show(info)
        layers = self.query_one("#layers")
        if info is None:
            layers.border_title = "Layer sparsity"
        elif info.finished:
            layers.border_title = f"Layer sparsity · round {info.round} ({pct(info.sparsity)})"
        else:
            layers.border_title = f"Layer sparsity · round {info.round} (training)"
        curves = self.query_one(CurvesPanel)
        curves.border_title = curves.show(info, self.state.kd_enabled, self.state.kd_from_round)

    def refresh_chart(self) -> None:
        self.query_one(AccuracyChart).show(ChartData.from_state(self.state))

    def short_path(self, path: str) -> str:
        """A path inside the run directory, relative to it."""
        base = Path(self.state.run_dir) if self.state.run_dir else self.run_dir
        try:
            return str(Path(path).relative_to(base)) if base else path
        except ValueError:
            return path

    # -- the table cursor picks the round the side panels show ------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        table = self.query_one(RoundsTable)
        if event.cursor_row != self._followed_row:
            # The user moved the cursor (following's own moves may arrive after
            # more rows came in): follow again only from the last row.
            self.follow_latest = event.cursor_row >= table.row_count - 1
            self._followed_row = None
        key = event.row_key.value
        self.show_details(self.state.rounds.get(int(key)) if key is not None else None)
