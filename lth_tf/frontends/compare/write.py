"""`compare`'s outputs: compare.md (tables), compare.png and compare.svg (the figure,
lth_tf/frontends/figures.py), compare.json.

These are the only files `compare` writes; it refuses a folder where one of them
exists but was not written by `compare` (its compare.json says so).
No TensorFlow here (matplotlib, headless).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lth_tf.core import winner as W
from lth_tf.core.errors import LthError
from lth_tf.core.paths import is_regular_file, what_is
from lth_tf.frontends import figures
from lth_tf.frontends.compare.aggregate import Setting
from lth_tf.storage import atomic

MARKDOWN_FILE, PLOT_FILE, PLOT_SVG_FILE, DATA_FILE = "compare.md", "compare.png", "compare.svg", "compare.json"
OUTPUTS = (MARKDOWN_FILE, PLOT_FILE, PLOT_SVG_FILE, DATA_FILE)
KIND = "lth-tf-compare"
RULE_NOTE = ("Winning ticket of a setting: the run's winner rule (lth_tf/core/winner.py) applied to the "
             "mean validation accuracy over its seeds: {rule}. Its mean test accuracy is reported. "
             "≥: the ticket is the last round planned, so sparser rounds may match too.")


def check_out(out: Path) -> None:
    if what_is(out) not in ("missing", "a folder"):
        raise LthError(f"--out {out} is {what_is(out)}, not a folder; pass a folder for compare's files")
    ours = out / DATA_FILE
    try:  # only a regular file is read (a FIFO there would block)
        owned = is_regular_file(ours) and json.loads(ours.read_text(encoding="utf-8")).get("kind") == KIND
    except (OSError, ValueError, AttributeError):
        owned = False
    clash = [n for n in OUTPUTS if what_is(out / n) != "missing"]
    clash += [n for n in OUTPUTS if (out / n).is_symlink() and n not in clash]
    odd = [n for n in clash if not is_regular_file(out / n) or (out / n).is_symlink()]
    if odd:  # never written through, whoever made it
        raise LthError(f"{out / odd[0]} is {'a link' if (out / odd[0]).is_symlink() else what_is(out / odd[0])}, "
                       "not a file `lth-tf compare` wrote; pass another --out folder")
    if clash and not owned:
        raise LthError(f"{out / clash[0]} exists and was not written by `lth-tf compare`; "
                       "pass another --out folder")


def as_json(settings: list[Setting], sources: list[str]) -> dict[str, Any]:
    return {
        "kind": KIND,
        "sources": sources,
        "winner_rule": RULE_NOTE.format(rule=_rule(settings)),
        "settings": [
            {"label": s.label, "seeds": s.seeds, "runs": [r.name for r in s.runs],
             "max_matching_sparsity": s.max_matching_sparsity,
             "winner": s.decision.to_dict() if s.decision else None, "ticket": s.ticket,
             "rounds": s.rounds, "controls": s.controls}
            for s in settings
        ],
    }


def _rule(settings: list[Setting]) -> str:
    tolerances = {(s.decision.tolerance, s.tolerance_from) for s in settings if s.decision}
    if len(tolerances) == 1:
        return W.rule_text(*tolerances.pop())
    return W.rule_text(None)


def summary_table(settings: list[Setting]) -> list[str]:
    """One row per setting: seeds, dense, the ticket (round, sparsity, test) and the tolerance."""
    lines = [("| setting | seeds | dense test % | ticket round | ticket sparsity % | ticket test % "
             "| tolerance (points) |"), "|---|---|---|---|---|---|---|"]
    notes = []
    for s in settings:
        dense = s.rounds[0] if s.rounds else None
        d = s.decision
        ticket = s.ticket
        if d is None or ticket is None:
            cells = "none | - | -"
            if d is not None:
                notes.append(f"- {s.label}: {d.reason}")
        else:
            reach = ("≥ " if d.last_planned else "") + f"{100 * ticket['sparsity']:.2f}"
            cells = f"{ticket['round']} | {reach} | {_pct(ticket)}"
        tol = W.points(d.tolerance) if d else "-"
        lines.append(f"| {s.label} | {len(s.runs)} ({figures.seeds_text(s.seeds)}) | {_pct(dense)} | {cells} "
                     f"| {tol} |")
    return lines + ([""] + notes if notes else [])


def markdown(settings: list[Setting], sources: list[str]) -> str:
    lines = ["# lth-tf compare", "", "Sources: " + ", ".join(f"`{s}`" for s in sources), "",
             RULE_NOTE.format(rule=_rule(settings)), "", *summary_table(settings)]
    for s in settings:
        lines += ["", f"## {s.label}", "", f"Seeds {', '.join(map(str, s.seeds))}.", "",
                  "| round | sparsity % | test % (mean ± std) | val % (mean ± std) | n |",
                  "|---|---|---|---|---|"]
        for row in s.rounds:
            mark = " ★" if s.decision is not None and row["round"] == s.decision.round else ""
            lines.append(f"| {row['round']}{mark} | {100 * row['sparsity']:.2f} | {_pct(row)} | "
                         f"{_pct(row, 'val')} | {row['n']} |")
        for kind, rows in s.controls.items():
            lines += ["", f"Control `{kind}`:", "", "| round | sparsity % | test % (mean ± std) | n |",
                      "|---|---|---|---|"]
            lines += [f"| {r['round']} | {100 * r['sparsity']:.2f} | {_pct(r)} | {r['n']} |" for r in rows]
    return "\n".join(lines) + "\n"


def panel(settings: list[Setting]) -> figures.Panel:
    """The figure's content: every setting's means, seed bands, controls, dense and ticket."""
    seeds = sorted({len(s.runs) for s in settings})
    n = f"{seeds[0]} seeds each" if len(seeds) == 1 else "seeds: " + ", ".join(str(len(s.runs)) for s in settings)
    none = [s.label for s in settings if s.ticket is None]
    if not none:
        subtitle = "★: each setting's winning ticket, chosen on mean validation accuracy"
    elif len(none) == len(settings):
        subtitle = f"no winning ticket{' in any setting' if len(settings) > 1 else ''} (compare.md says why)"
    else:
        subtitle = f"★: winning ticket, chosen on mean validation accuracy; none for {', '.join(none)}"
    if len(settings) > 1:
        subtitle += "; the settings' controls side by side"
    p = figures.Panel(f"Test accuracy against the weights remaining, mean ± std over seeds ({n})", subtitle)
    for s in settings:
        p.settings.append(figures.Line(s.label, [r["sparsity"] for r in s.rounds],
                                       [r["test_mean"] for r in s.rounds],
                                       [r["test_std"] for r in s.rounds], len(s.runs)))
        p.controls[s.label] = {
            kind: figures.Line(kind, [r["sparsity"] for r in rows], [r["test_mean"] for r in rows],
                               [r["test_std"] for r in rows], max((r["n"] for r in rows), default=1))
            for kind, rows in s.controls.items()
        }
        if s.rounds and s.rounds[0]["round"] == 0:
            p.dense[s.label] = (s.rounds[0]["test_mean"], s.rounds[0]["test_std"])
        if s.ticket is not None and s.decision is not None:
            p.tickets[s.label] = (s.ticket["sparsity"], s.ticket["test_mean"], s.decision.last_planned)
    return p


def plot(settings: list[Setting], out: Path) -> list[Path]:
    fig = figures.build(panel(settings))
    return figures.save(fig, [out / PLOT_FILE, out / PLOT_SVG_FILE], atomic.write_bytes_atomic)


def write_all(out: Path, settings: list[Setting], sources: list[str]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_json_atomic(out / DATA_FILE, as_json(settings, sources))
    atomic.write_text_atomic(out / MARKDOWN_FILE, markdown(settings, sources))
    plots = plot(settings, out)
    return [out / MARKDOWN_FILE, *plots, out / DATA_FILE]


def _pct(row: dict[str, Any] | None, key: str = "test") -> str:
    """'81.20 ± 0.40' over seeds; one seed has no spread: '81.20'."""
    if not row:
        return "-"
    mean = f"{100 * row[f'{key}_mean']:.2f}"
    return mean if row.get("n", 2) <= 1 else f"{mean} ± {100 * row[f'{key}_std']:.2f}"
