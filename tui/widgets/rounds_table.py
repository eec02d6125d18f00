"""The rounds table: one row per round, added when it starts, filled when it ends.

Column widths are set here, each the widest of its label and cells, and the table is
rebuilt when one changes. (DataTable's own widths, `update_width=True`, are measured
on idle and keep rows drawn before that at the old widths: on a replayed 20-round run
rows 0-10 were shifted against the header until `s` rebuilt the table twice.)
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from lth_tf.core.cost import human
from lth_tf.core.events import DISTILL_LOSS, KD_KEYS
from tui.state import RoundInfo, RunState, duration, pct, points

BASE = (
    ("Round", "round"),
    ("Sparsity", "sparsity"),
    ("Val", "val"),  # accuracies; short headers keep the table within 70 columns
    ("Test", "test"),
    ("Δ dense", "delta"),
)
# The last columns: how the round trained, or (key `s`) the size of its ticket as served.
# Both sets do not fit in 70 columns at once.
VIEWS = {
    "training": (
        ("KD s/d/t", "kd"),  # student / distill / teacher loss
        ("Time", "time"),
        # estimated training FLOPs of rounds 0..r (not per example: that is Inf FLOPs);
        # * = stopped early. The title says what Σ train is.
        ("Σ train", "cost"),
    ),
    "size": (
        ("Params", "params"),  # narrowed model's with channel pruning (flops.inference_size)
        ("Nonzero", "nonzeros"),
        ("Inf FLOPs", "inference"),  # estimated FLOPs per example at inference
    ),
}
COLUMNS = BASE + VIEWS["training"]
TITLES = {
    "training": "Rounds · Σ train: training FLOPs to here · s: sizes",
    "size": "Rounds · sizes as served · s: training",
}


class RoundsTable(DataTable):
    """Rows are keyed by the round number as a string ("0", "1", ...)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("s", "toggle_view", "Sizes", show=False)]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.view = "training"
        self._state: RunState | None = None  # the last state shown, to refill after a toggle
        self._shown: dict[str, list[Text]] = {}  # the cells of each row, by round key
        self._widths: list[int] = []  # the width of each column, as added

    @property
    def columns_shown(self) -> tuple[tuple[str, str], ...]:
        return BASE + VIEWS[self.view]

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self._rebuild()

    def widths(self) -> list[int]:
        """Each column's width: the widest of its label and of its cells shown."""
        return [
            max([len(label), *(cells[i].cell_len for cells in self._shown.values())])
            for i, (label, _) in enumerate(self.columns_shown)
        ]

    def _rebuild(self) -> None:
        """Columns at `widths()`, then every row; the cursor stays on its round."""
        at = self.round_at_cursor()
        self._widths = self.widths()
        self.border_title = TITLES[self.view]
        with self.prevent(DataTable.RowHighlighted):  # the cursor's round does not change
            self.clear(columns=True)
            for (label, key), width in zip(self.columns_shown, self._widths):
                self.add_column(Text(label, justify="right"), key=key, width=width)
            for key in sorted(self._shown, key=int):
                self.add_row(*self._shown[key], key=key)
            if at is not None:
                self.move_to_round(at)

    def action_toggle_view(self) -> None:
        """Swap the last columns: training (KD, time, FLOPs so far) <-> sizes."""
        self.view = "size" if self.view == "training" else "training"
        if self._state is not None:
            self._shown = {
                key: self.cells(self._state.rounds[int(key)], self._state, self.view)
                for key in self._shown if int(key) in self._state.rounds
            }
        self._rebuild()

    def show_round(self, info: RoundInfo, state: RunState) -> None:
        """Add the round's row, or update its cells in place (rebuilt if a width changes)."""
        self._state = state
        cells = self.cells(info, state, self.view)
        key = str(info.round)
        new = key not in self._shown
        self._shown[key] = cells
        if self.widths() != self._widths or (new and any(int(k) > info.round for k in self._shown)):
            self._rebuild()  # a wider (or narrower) column, or a row that goes before others
        elif new:
            self.add_row(*cells, key=key)
        else:
            for (_, column), value in zip(self.columns_shown, cells):
                self.update_cell(key, column, value)

    def remove_round(self, r: int) -> None:
        if self._shown.pop(str(r), None) is not None:
            if self.widths() != self._widths:
                self._rebuild()
            else:
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
    def cells(info: RoundInfo, state: RunState, view: str = "training") -> list[Text]:
        ticket = state.ticket is not None and state.ticket.get("round") == info.round
        if not info.finished:
            progress = f"ep {info.epoch}/{info.epochs}" if info.epochs else "…"
            kd = _kd_cell(_latest(info.history)) if info.history.get(DISTILL_LOSS) else "–"
            last = [
                Text(kd, style="dim", justify="right"),
                Text(progress, style="dim", justify="right"),
                Text("…", style="dim", justify="right"),
            ] if view == "training" else [Text("…", style="dim", justify="right") for _ in range(3)]
            return [
                Text(f"{info.round} ▶", style="bold cyan", justify="right"),
                Text(pct(info.target_sparsity), style="dim", justify="right"),
                Text(pct(_last(info.history.get("val_acc"))), style="dim", justify="right"),
                Text("…", style="dim", justify="right"),
                Text("", justify="right"),
                *last,
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
            *(Text(cell, justify="right") for cell in (
                _size_cells(info.inference) if view == "size" else (
                    _kd_cell(info.distill), duration(info.seconds),
                    _cost_cell(state.cost_to_reach(info.round), info)))),
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


def _size_cells(size: dict[str, float] | None) -> tuple[str, ...]:
    """Params, nonzeros, inference FLOPs per example (flops.inference_size); '–' if not recorded."""
    return tuple(
        "–" if not size or size.get(k) is None else human(size[k]).replace(" ", "")
        for k in ("params", "nonzeros", "flops")
    )


def _kd_cell(d: dict[str, float] | None) -> str:
    if not d:
        return "–"
    # "0.52" -> ".52": the table must fit 70 columns beside the other panels
    return "/".join("–" if d.get(k) is None else f"{d[k]:.2f}".removeprefix("0") for k in KD_KEYS)
