"""The guide's results page (docs/results.md) laid out from make_table's rows.

make_table.py builds one five-cell row per result (benchmark, headline, target, met,
ran), as it did for the README. Those rows hold up to ~900 characters, so here they
are regrouped for reading: one table per topic with the headline's parts (separated
by "; ") on lines of their own, and the where-and-when of every row in a last table.
Rows a new benchmark adds land under "Other results" until TOPICS names them.
"""

from __future__ import annotations

# Topic heading -> the benchmark names (the row's first word) it gathers, in page order.
TOPICS = {
    "Lottery tickets": ("cora_lottery", "citeseer_lottery", "cifar_resnet18_cpu", "own_model",
                        "keras3_ticket"),
    "Cheaper tickets": ("cheaper_tickets",),
    "Structured pruning": ("structured", "faster_tickets", "regroup_kernels"),
    "Exports: size and latency": ("export_size", "efficiency", "litert_sparse"),
    "Training speed": ("overhead", "speed", "speed_accuracy", "round_phases", "step_profile", "tune", "distribute",
                       "sweep_scaling"),
}
OTHER = "Other results"


def cells(row: str) -> list[str]:
    """The cells of a markdown table row ('| a | b |' -> ['a', 'b'])."""
    return [c.strip() for c in row.strip().strip("|").split(" | ")]


def name_of(benchmark: str) -> str:
    return benchmark.replace(",", " ").split()[0]


def parts_of(headline: str) -> list[str]:
    """The '; '-separated parts of a headline, outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(headline):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and headline.startswith("; ", i):
            parts.append(headline[start:i])
            start = i + 2
    return [*parts, headline[start:]]


def lines_of(headline: str) -> str:
    """A headline as lines: its '; '-separated parts, after a shared 'intro:' when there are many."""
    parts = parts_of(headline)
    if len(parts) < 3:
        return "<br>".join(parts)
    intro, sep, first = parts[0].partition(": ")
    if not sep:
        return "<br>".join(parts)
    return f"{intro}:<br>" + "<br>".join(f"· {p}" for p in [first, *parts[1:]])


def page(table_lines: list[str]) -> str:
    """The markdown between the page's markers, from make_table.table()'s lines."""
    rows, rest = [], []
    for i, line in enumerate(table_lines):
        if not line.strip():
            rest = table_lines[i:]
            break
        rows.append(line)
    rows = [cells(r) for r in rows[2:]]  # past the header and its rule
    groups: dict[str, list[list[str]]] = {}
    for r in rows:
        topic = next((t for t, names in TOPICS.items() if name_of(r[0]) in names), OTHER)
        groups.setdefault(topic, []).append(r)
    out: list[str] = []
    for topic in [*TOPICS, OTHER]:
        if topic not in groups:
            continue
        out += [f"## {topic}", "", "| benchmark | result | target | met |", "|---|---|---|---|"]
        for r in groups[topic]:
            r = (r + [""] * 5)[:5]
            out.append(f"| {r[0]} | {lines_of(r[1])} | {r[2]} | {r[3]} |")
        out.append("")
    out += ["## When and where each ran", "", "| benchmark | ran |", "|---|---|"]
    out += [f"| {r[0]} | {r[4] if len(r) > 4 else ''} |" for r in rows]
    if rest:
        out += ["", "## Cora, round by round", "", *rest[1:]]
    return "\n".join(out)
