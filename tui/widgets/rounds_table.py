"""The rounds table: one row per round, added when it starts, filled when it ends."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from lth_tf.cost import human
from lth_tf.events import DISTILL_LOSS, KD_KEYS
from tui.state import RoundInfo, RunState, duration, pct, points

COLUMNS = (
    ("Round", "round"),
    ("Sparsity", "sparsity"),
    ("Val", "val"),  # accuracies; short headers keep the table within 70 columns
    ("Test", "test"),
    ("Δ dense", "delta"),
    ("KD s/d/t", "kd"),  # student / distill / teacher loss
    ("Time", "time"),
    ("FLOPs", "cost"),  # estimated training FLOPs of rounds 0..r; * = stopped early
)


class RoundsTable(DataTable):
    """Rows are keyed by the round number as a string ("0", "1", ...)."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for label, key in COLUMNS:
            self.add_column(Text(label, justify="right"), key=key)

    def show_round(self, info: RoundInfo, state: RunState) -> None:
        """Add the round's row, or update its cells in place."""
        cells = self.cells(info, state)
        key = str(info.round)
        if key in self.rows:
            for (_, column), value in zip(COLUMNS, cells):
                self.update_cell(key, column, value, update_width=True)
        else:
            self.add_row(*cells, key=key)

    def remove_round(self, r: int) -> None:
        if str(r) in self.rows:
            self.remove_row(str(r))

    def round_at_cursor(self) -> int | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:  # cursor outside the rows (table just emptied)
            return None
        return int(key.value) if key.value is not None else None

    def move_to_round(self, r: int) -> None:
        if str(r) in self.rows:
            self.move_cursor(row=self.get_row_index(str(r)))

    @staticmethod
    def cells(info: RoundInfo, state: RunState) -> list[Text]:
        ticket = state.ticket is not None and state.ticket.get("round") == info.round
        if not info.finished:
            progress = f"ep {info.epoch}/{info.epochs}" if info.epochs else "…"
            kd = _kd_cell(_latest(info.history)) if info.history.get(DISTILL_LOSS) else "–"
            return [
                Text(f"{info.round} ▶", style="bold cyan", justify="right"),
                Text(pct(info.target_sparsity), style="dim", justify="right"),
                Text(pct(_last(info.history.get("val_acc"))), style="dim", justify="right"),
                Text("…", style="dim", justify="right"),
                Text("", justify="right"),
                Text(kd, style="dim", justify="right"),
                Text(progress, style="dim", justify="right"),
                Text("…", style="dim", justify="right"),
            ]
        delta = state.delta_to_dense(info)
        delta_style = "" if delta is None or info.round == 0 else ("green" if delta >= 0 else "red")
        return [
            Text(f"{info.round} ★" if ticket else str(info.round),
                 style="bold yellow" if ticket else "", justify="right"),
            Text(pct(info.sparsity), justify="right"),
            Text(pct(info.val_acc), justify="right"),
            Text(pct(info.test_acc), style="bold", justify="right"),
            Text("" if info.round == 0 else points(delta), style=delta_style, justify="right"),
            Text(_kd_cell(info.distill), justify="right"),
            Text(duration(info.seconds), justify="right"),
            Text(_cost_cell(state.cost_to_reach(info.round), info), justify="right"),
        ]


def _last(values: list[float] | None) -> float | None:
    return values[-1] if values else None


def _latest(history: dict[str, list[float]]) -> dict[str, float]:
    return {k: v[-1] for k, v in history.items() if v}


def _cost_cell(total: dict[str, float] | None, info: RoundInfo) -> str:
    """Estimated training FLOPs of rounds 0..r, '*' if this round stopped early (early-bird)."""
    if total is None or total.get("train_flops") is None:
        return "–"
    return f"{human(total['train_flops']).replace(' ', '')}{'*' if info.stopped_at else ''}"


def _kd_cell(d: dict[str, float] | None) -> str:
    if not d:
        return "–"
    # "0.52" -> ".52": the table must fit 70 columns beside the other panels
    return "/".join("–" if d.get(k) is None else f"{d[k]:.2f}".removeprefix("0") for k in KD_KEYS)
