"""Test accuracy against sparsity, drawn with unicode characters.

The x axis is log(1 / fraction of weights left), as in the lottery-ticket
papers: rounds of a constant pruning rate land at equal steps, and the sparse
end (where tickets live) is not squeezed against 100%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise

from rich.text import Text
from textual.widget import Widget

from tui.state import RunState

CONTROL_MARKS = {"random_reinit": ("×", "red"), "random_mask": ("+", "magenta")}
CONTROL_NAMES = {"random_reinit": "random reinit", "random_mask": "random mask"}
Y_LABEL = 6  # "  81.2" then the axis


@dataclass
class ChartData:
    rounds: list[tuple[int, float, float]] = field(default_factory=list)  # round, sparsity, acc
    dense: float | None = None
    controls: list[tuple[str, float, float]] = field(default_factory=list)  # kind, sparsity, acc
    ticket_round: int | None = None
    final_sparsity: float | None = None

    @classmethod
    def from_state(cls, state: RunState) -> ChartData:
        rounds = [
            (i.round, i.sparsity or 0.0, i.test_acc)
            for i in state.finished_rounds()
            if i.test_acc is not None
        ]
        dense = state.dense.test_acc if state.dense is not None else None
        controls = [
            (c.kind, c.sparsity, c.test_acc)
            for _, c in sorted(state.controls.items())
            if c.test_acc is not None
        ]
        ticket = state.ticket.get("round") if state.ticket else None
        return cls(rounds, dense, controls, ticket, state.final_sparsity())


def _u(sparsity: float) -> float:
    return -math.log(1.0 - min(max(sparsity, 0.0), 0.9999))


class AccuracyChart(Widget):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.chart_data = ChartData()

    def show(self, data: ChartData) -> None:
        self.chart_data = data
        self.refresh()

    def render(self) -> Text:
        return draw(self.chart_data, self.size.width, self.size.height)


def _nearest(x: int, width: int) -> list[int]:
    """Columns of 0..width-1 by distance from x: x, x-1, x+1, x-2, ... (left first: the
    last round sits at the right edge)."""
    return sorted(range(width), key=lambda c: (abs(c - x), c))


def draw(d: ChartData, width: int, height: int) -> Text:
    """The chart as `height` lines of `width` cells."""
    if not d.rounds:
        return Text("no finished round yet", style="dim")
    plot_w = width - Y_LABEL - 2
    plot_h = height - 3  # x axis, tick labels, legend
    if plot_w < 10 or plot_h < 3:
        return Text(
            "  ".join(f"{100 * s:.0f}%:{100 * a:.1f}" for _, s, a in d.rounds), no_wrap=True
        )

    accs = [a for _, _, a in d.rounds] + [a for _, _, a in d.controls]
    if d.dense is not None:
        accs.append(d.dense)
    lo, hi = min(accs), max(accs)
    pad = max((hi - lo) * 0.08, 0.005)
    lo, hi = lo - pad, hi + pad
    u_max = max([_u(s) for _, s, _ in d.rounds] + [_u(s) for _, s, _ in d.controls])
    if d.final_sparsity is not None:
        u_max = max(u_max, _u(d.final_sparsity))
    u_max = u_max or math.log(2)

    def col(s: float) -> int:
        return round(_u(s) / u_max * (plot_w - 1))

    def row(a: float) -> int:
        return round((hi - a) / (hi - lo) * (plot_h - 1))

    grid: list[list[tuple[str, str]]] = [[(" ", "")] * plot_w for _ in range(plot_h)]
    if d.dense is not None:
        grid[row(d.dense)] = [("┄", "green")] * plot_w
    pts = sorted((col(s), row(a)) for _, s, a in d.rounds)
    for (c1, r1), (c2, r2) in pairwise(pts):
        for c in range(c1 + 1, c2):
            r = round(r1 + (r2 - r1) * (c - c1) / (c2 - c1))
            grid[r][c] = ("·", "cyan")
    points: dict[tuple[int, int], int] = {}
    for r, s, a in d.rounds:  # the ticket's star wins a cell it shares with another round
        if (row(a), col(s)) not in points or r == d.ticket_round:
            points[row(a), col(s)] = r
    taken = set(points)
    for kind, s, a in d.controls:
        # Controls often land on one cell (same sparsity, close accuracy), and on the round's
        # own point: each takes the nearest free cell of its row, so none hides another.
        y, x = row(a), col(s)
        x = next((c for c in _nearest(x, plot_w) if (y, c) not in taken), x)
        taken.add((y, x))
        grid[y][x] = CONTROL_MARKS.get(kind, ("◆", "red"))
    for (y, x), r in points.items():
        grid[y][x] = ("★", "bold yellow") if r == d.ticket_round else ("●", "bold cyan")

    mid = (plot_h - 1) // 2
    labelled = {0: hi, plot_h - 1: lo, mid: hi - (hi - lo) * mid / (plot_h - 1)}
    lines: list[Text] = []
    for y, cells in enumerate(grid):
        line = Text()
        if y in labelled:
            line.append(f"{100 * labelled[y]:{Y_LABEL}.1f}┤", style="dim")
        else:
            line.append(" " * Y_LABEL + "│", style="dim")
        for ch, style in cells:
            line.append(ch, style=style or None)
        lines.append(line)
    lines.append(Text(" " * Y_LABEL + "└" + "─" * plot_w, style="dim"))

    ticks = [" "] * plot_w
    free_from = 0
    for _, s, _ in sorted(d.rounds, key=lambda p: p[1]):
        label = f"{100 * s:.0f}%"
        start = min(max(0, col(s) - len(label) // 2), plot_w - len(label))
        if start >= free_from:
            ticks[start : start + len(label)] = label
            free_from = start + len(label) + 1
    lines.append(Text(" " * (Y_LABEL + 1) + "".join(ticks), style="dim"))

    legend = Text()
    legend.append("● ", style="bold cyan")
    legend.append("test acc %")
    if d.dense is not None:
        legend.append("  ┄ ", style="green")
        legend.append(f"dense {100 * d.dense:.1f}")
    for kind in sorted({k for k, _, _ in d.controls}):
        mark, style = CONTROL_MARKS.get(kind, ("◆", "red"))
        legend.append(f"  {mark} ", style=style)
        legend.append(CONTROL_NAMES.get(kind, kind))
    if d.ticket_round is not None:
        legend.append("  ★ ", style="bold yellow")
        legend.append("ticket")
    lines.append(legend)
    for line in lines:
        line.truncate(width, overflow="crop")
    return Text("\n").join(lines)
