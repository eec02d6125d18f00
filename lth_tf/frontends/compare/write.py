"""`compare`'s outputs: compare.md (tables), compare.png (seed bands), compare.json.

The three names are the only files `compare` writes; it refuses a folder where
one of them exists but was not written by `compare` (its compare.json says so).
No TensorFlow here (matplotlib, headless).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lth_tf.core.errors import LthError
from lth_tf.core.paths import is_regular_file, what_is
from lth_tf.frontends.compare.aggregate import MATCH_POINTS, Setting
from lth_tf.storage import atomic

MARKDOWN_FILE, PLOT_FILE, DATA_FILE = "compare.md", "compare.png", "compare.json"
KIND = "lth-tf-compare"
MATCHING_NOTE = ("Matching: the highest sparsity at which the mean test accuracy over seeds, at that and "
                 "every lower sparsity, stays within {points} point of the dense mean.")


def check_out(out: Path) -> None:
    if what_is(out) not in ("missing", "a folder"):
        raise LthError(f"--out {out} is {what_is(out)}, not a folder; pass a folder for compare's files")
    ours = out / DATA_FILE
    try:  # only a regular file is read (a FIFO there would block)
        owned = is_regular_file(ours) and json.loads(ours.read_text(encoding="utf-8")).get("kind") == KIND
    except (OSError, ValueError, AttributeError):
        owned = False
    clash = [n for n in (MARKDOWN_FILE, PLOT_FILE, DATA_FILE) if what_is(out / n) != "missing"]
    clash += [n for n in (MARKDOWN_FILE, PLOT_FILE, DATA_FILE) if (out / n).is_symlink() and n not in clash]
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
        "match_points": MATCH_POINTS,
        "settings": [
            {"label": s.label, "seeds": s.seeds, "runs": [r.name for r in s.runs],
             "max_matching_sparsity": s.max_matching_sparsity, "rounds": s.rounds,
             "controls": s.controls}
            for s in settings
        ],
    }


def markdown(settings: list[Setting], sources: list[str]) -> str:
    lines = ["# lth-tf compare", "", "Sources: " + ", ".join(f"`{s}`" for s in sources), "",
             MATCHING_NOTE.format(points=f"{100 * MATCH_POINTS:g}"), "",
             "| setting | seeds | dense test % | max matching sparsity % |", "|---|---|---|---|"]
    for s in settings:
        dense = s.rounds[0] if s.rounds else None
        lines.append(f"| {s.label} | {len(s.runs)} | {_pct(dense)} | {100 * s.max_matching_sparsity:.2f} |")
    for s in settings:
        lines += ["", f"## {s.label}", "", f"Seeds {', '.join(map(str, s.seeds))}.", "",
                  "| round | sparsity % | test % (mean ± std) | val % (mean ± std) | n |",
                  "|---|---|---|---|---|"]
        for row in s.rounds:
            lines.append(f"| {row['round']} | {100 * row['sparsity']:.2f} | {_pct(row)} | "
                         f"{100 * row['val_mean']:.2f} ± {100 * row['val_std']:.2f} | {row['n']} |")
        for kind, rows in s.controls.items():
            lines += ["", f"Control `{kind}`:", "", "| round | sparsity % | test % (mean ± std) | n |",
                      "|---|---|---|---|"]
            lines += [f"| {r['round']} | {100 * r['sparsity']:.2f} | {_pct(r)} | {r['n']} |" for r in rows]
    return "\n".join(lines) + "\n"


def plot(settings: list[Setting], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for s in settings:
        rows = s.rounds
        x = [100 * r["sparsity"] for r in rows]
        m = [100 * r["test_mean"] for r in rows]
        sd = [100 * r["test_std"] for r in rows]
        line, = ax.plot(x, m, marker="o", ms=3, label=f"{s.label} ({len(s.runs)} seeds)")
        ax.fill_between(x, [a - b for a, b in zip(m, sd)], [a + b for a, b in zip(m, sd)],
                        color=line.get_color(), alpha=0.2)
        for kind, crows in s.controls.items():
            ax.plot([100 * r["sparsity"] for r in crows], [100 * r["test_mean"] for r in crows],
                    ls="--", marker="x", color=line.get_color(), alpha=0.7,
                    label=f"{s.label}: {kind}")
    ax.set_xlabel("sparsity (%)")
    ax.set_ylabel("test accuracy (%), mean ± std over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic.write_bytes_atomic(path, lambda f: fig.savefig(f, dpi=110, format="png"))
    plt.close(fig)


def write_all(out: Path, settings: list[Setting], sources: list[str]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_json_atomic(out / DATA_FILE, as_json(settings, sources))
    atomic.write_text_atomic(out / MARKDOWN_FILE, markdown(settings, sources))
    plot(settings, out / PLOT_FILE)
    return [out / MARKDOWN_FILE, out / PLOT_FILE, out / DATA_FILE]


def _pct(row: dict[str, Any] | None) -> str:
    if not row:
        return "-"
    return f"{100 * row['test_mean']:.2f} ± {100 * row['test_std']:.2f}"
