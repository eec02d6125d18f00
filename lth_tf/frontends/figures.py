"""The accuracy figures of `lth-tf report` (accuracy.png/.svg) and `lth-tf compare`
(compare.png/.svg): test accuracy against the weights remaining.

One drawing for both, so a run and a comparison read the same way:
- x: weights remaining (% of the prunable weights), log scale, 100% on the left,
  as the TUI's chart (a round of 20% pruning is one step of the same width
  anywhere on the axis); the top axis gives the sparsity at the same ticks;
- y: test accuracy (%), the number reported; the ticket is chosen on validation;
- the dense mean (round 0) as a dashed line with a band of ±1 point;
- each setting's rounds (mean over seeds, band of ±1 std when n > 1);
- each control with its own marker and legend entry (error bars over seeds), in its own
  colour for one setting and in its setting's colour when several are compared; then the
  settings' controls at one sparsity are drawn side by side (DODGE), never on one another;
- the winning ticket as a star (`lth_tf.core.winner`), "≥" when it is the last round planned.

`build(...)` returns the matplotlib Figure (tests read its artists by `gid`:
DENSE_BAND, DENSE_LINE, TICKET, and "rounds:<label>", "band:<label>", "control:<label>:<kind>");
`save(fig, paths)` writes it as PNG and SVG. Matplotlib only, headless.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DENSE_BAND, DENSE_LINE, TICKET = "dense-band", "dense-line", "ticket"
BAND_POINTS = 1.0  # the dense band: ±1 point of accuracy
X_LABEL = "weights remaining (% of prunable weights, log scale)"
TOP_LABEL = "sparsity (%)"
Y_LABEL = "test accuracy (%)"
# Each control kind its own marker; kinds not listed take the next of SPARE_MARKERS.
CONTROL_MARKERS = {"random_reinit": "s", "random_mask": "^"}
SPARE_MARKERS = ("D", "v", "P", "X", "<", ">")
SUBTITLE_CHARS = 100  # a subtitle line at 8.5 pt fits the 7.2-inch figure
MAX_TICKS = 12  # x ticks at the rounds' own values, thinned to about this many
# Several settings: setting i of n draws its controls at x * DODGE ** (i - (n - 1) / 2), so
# controls at one sparsity sit side by side (a marker's width apart on the log axis).
DODGE = 1.1


@dataclass
class Line:
    """One series: per-round means (accuracy as fractions), optional std over seeds."""

    label: str  # legend text
    sparsity: list[float]
    mean: list[float]
    std: list[float] | None = None
    n: int = 1  # seeds behind each mean


@dataclass
class Panel:
    """What one figure shows. `settings`: one Line per setting; `controls`: per setting
    label, {kind: Line}; `dense`: per setting label, (mean, std) of round 0's test
    accuracy; `tickets`: per setting label, (sparsity, test mean, last planned)."""

    title: str
    subtitle: str = ""
    settings: list[Line] = field(default_factory=list)
    controls: dict[str, dict[str, Line]] = field(default_factory=dict)
    dense: dict[str, tuple[float, float]] = field(default_factory=dict)
    tickets: dict[str, tuple[float, float, bool]] = field(default_factory=dict)


def remaining(sparsity: float) -> float:
    """Percent of the weights left; never 0, so the log axis can show a fully pruned round."""
    return max(100.0 * (1.0 - sparsity), 1e-3)


def build(panel: Panel):
    """The Figure of `panel` (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(7.2, 5.4), layout="constrained")
    xs = [remaining(s) for line in panel.settings for s in line.sparsity]
    xs += [remaining(s) for kinds in panel.controls.values() for c in kinds.values() for s in c.sparsity]
    lo = min(xs, default=1.0)
    left, right = 100 * 1.15, lo / 1.15 / (DODGE ** ((len(panel.settings) - 1) / 2))
    _dense(ax, panel, colours, left, right)
    next_colour = len(panel.settings)
    spare = iter(SPARE_MARKERS)
    markers = dict(CONTROL_MARKERS)
    for i, line in enumerate(panel.settings):
        colour = colours[i % len(colours)]
        x = [remaining(s) for s in line.sparsity]
        y = [100 * m for m in line.mean]
        seeds = f", mean ± std of {line.n} seeds" if line.n > 1 else ""
        ax.plot(x, y, "o-", color=colour, ms=4, lw=1.6, label=f"{line.label}{seeds}", gid=f"rounds:{line.label}",
                zorder=3)
        if line.std is not None and line.n > 1:
            ax.fill_between(x, [a - 100 * b for a, b in zip(y, line.std)], [a + 100 * b for a, b in zip(y, line.std)],
                            color=colour, alpha=0.18, lw=0, gid=f"band:{line.label}", zorder=2)
        for kind, control in sorted(panel.controls.get(line.label, {}).items()):
            if kind not in markers:
                markers[kind] = next(spare, "o")
            # one setting: each control its own colour; several: the setting's colour (the
            # control's marker tells the kinds apart), so a control reads with its setting
            c_colour = colours[next_colour % len(colours)] if len(panel.settings) == 1 else colour
            next_colour += 1
            shift = DODGE ** (i - (len(panel.settings) - 1) / 2)
            cx = [remaining(s) * shift for s in control.sparsity]
            cy = [100 * m for m in control.mean]
            err = [100 * s for s in control.std] if control.std is not None and control.n > 1 else None
            name = kind.replace("_", " ")
            label = f"{name} control" if len(panel.settings) == 1 else f"{line.label}: {name} control"
            artist = ax.errorbar(cx, cy, yerr=err, fmt=markers[kind], color=c_colour, ms=7, mfc="white",
                                 mew=1.6, capsize=3, ls=":" if len(cx) > 1 else "none", lw=1.2,
                                 label=label, zorder=4)
            artist.lines[0].set_gid(f"control:{line.label}:{kind}")
        ticket = panel.tickets.get(line.label)
        if ticket is not None:
            s, acc, last = ticket
            reach = f"{'≥ ' if last else ''}{100 * s:.1f}% sparse"
            label = (f"winning ticket ({reach}, chosen on validation)" if len(panel.settings) == 1
                     else f"{line.label}: winning ticket ({reach})")
            ax.plot([remaining(s)], [100 * acc], "*", ms=17, color="gold", mec=colour, mew=1.4,
                    label=label, gid=TICKET, zorder=5, ls="none")
    ax.set_xscale("log")
    ax.set_xlim(left, right)  # 100% on the left: pruning goes to the right
    ticks = tick_values(xs)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    top = ax.secondary_xaxis("top", functions=(_identity, _identity))
    top.xaxis.set_major_locator(FixedLocator(ticks))
    top.xaxis.set_minor_locator(NullLocator())
    top.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 - v:.3g}"))
    top.set_xlabel(TOP_LABEL)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    fig.suptitle(panel.title, fontsize=11)
    if panel.subtitle:  # wrapped: a long one would run off the figure
        ax.set_title(wrap(panel.subtitle), fontsize=8.5, color="0.25")
    ax.grid(alpha=0.3, which="major")
    handles, labels = ax.get_legend_handles_labels()
    # below the axes, outside them: constrained layout makes room (never hides a point)
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return fig


def wrap(text: str, width: int = SUBTITLE_CHARS) -> str:
    """Break a long subtitle after commas or semicolons so it fits over the plot."""
    lines, line = [], ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if len(candidate) > width and line:
            cut = max(line.rfind(", "), line.rfind("; "))
            if cut > width // 2:  # at the last comma, if that keeps the line at half or more
                lines.append(line[: cut + 1])
                line = f"{line[cut + 2:]} {word}"
            else:
                lines.append(line)
                line = word
        else:
            line = candidate
    return "\n".join([*lines, line] if line else lines)


def tick_values(xs: list[float]) -> list[float]:
    """Ticks at the plotted weights-remaining values (as the lottery-ticket papers label their
    axes: 100, 51.2, 26.2, ...), thinned to at most about MAX_TICKS evenly on the log axis;
    100 and the sparsest value are always kept."""
    values = sorted({round(x, 6) for x in [100.0, *xs] if x > 0}, reverse=True)
    if len(values) <= 2:
        return values
    gap = math.log10(values[0] / values[-1]) / MAX_TICKS
    kept = [values[0]]
    for v in values[1:-1]:
        if math.log10(kept[-1] / v) >= gap and math.log10(v / values[-1]) >= gap / 2:
            kept.append(v)
    return [*kept, values[-1]]


def _dense(ax: Any, panel: Panel, colours: list[str], left: float, right: float) -> None:
    """The dense mean and its ±1-point band: one for all settings when they share round 0."""
    if not panel.dense:
        return
    values = list(panel.dense.items())
    shared = max(m for _, (m, _) in values) - min(m for _, (m, _) in values) < 1e-9
    entries = [("dense", values[0][1], "0.35")] if shared else [
        (f"dense of {label}", value, colours[[s.label for s in panel.settings].index(label) % len(colours)]
         if label in [s.label for s in panel.settings] else "0.35")
        for label, value in values
    ]
    for i, (name, (mean, std), colour) in enumerate(entries):
        y = 100 * mean
        spread = f" (mean over seeds, std {100 * std:.2f})" if std else ""
        ax.axhline(y, color=colour, ls="--", lw=1.2, label=f"{name}: {y:.2f}%{spread}",
                   gid=DENSE_LINE if i == 0 else f"{DENSE_LINE}:{name}", zorder=1)
        ax.fill_between([left, right], [y - BAND_POINTS] * 2, [y + BAND_POINTS] * 2, color=colour, alpha=0.12,
                        lw=0, label=f"{name} ± {BAND_POINTS:g} point" if i == 0 else None,
                        gid=DENSE_BAND if i == 0 else f"{DENSE_BAND}:{name}", zorder=0)


def _identity(v):
    return v


def save(fig: Any, paths: list[Path], write: Callable[[Path, Callable], None] | None = None) -> list[Path]:
    """Write `fig` to each of `paths`, in the format its suffix names (.png, .svg); closes it.

    `write(target, writer)` writes one file (default: straight to the path; the
    callers pass `lth_tf.storage.atomic.write_bytes_atomic`).
    """
    import matplotlib.pyplot as plt

    try:
        # a fixed salt for the SVG's element ids: the same figure gives the same file
        with plt.rc_context({"svg.hashsalt": "lth-tf"}):
            _write(fig, paths, write)
    finally:
        plt.close(fig)
    return list(paths)


def _write(fig: Any, paths: list[Path], write: Callable[[Path, Callable], None] | None) -> None:
    for target in paths:
        fmt = target.suffix.lstrip(".")
        writer = (lambda f, fmt=fmt: fig.savefig(f, dpi=150, format=fmt, metadata=_metadata(fmt)))
        if write is None:
            with open(target, "wb") as f:
                writer(f)
        else:
            write(target, writer)


def _metadata(fmt: str) -> dict[str, Any]:
    # No creation date in the SVG, so the same run gives the same file.
    return {"Date": None} if fmt == "svg" else {}


def seeds_text(seeds: list[int]) -> str:
    """[0, 1, 2, 4] -> '0-2, 4'."""
    out, start = [], None
    for i, s in enumerate(sorted(seeds)):
        if start is None:
            start = s
        nxt = sorted(seeds)[i + 1] if i + 1 < len(seeds) else None
        if nxt != s + 1:
            out.append(str(start) if start == s else f"{start}-{s}")
            start = None
    return ", ".join(out)


def finite(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
