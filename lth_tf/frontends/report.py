"""Reports from a run directory: a Markdown table and a plot of accuracy vs sparsity.

Reads only summary.json (and nothing from TensorFlow), so reporting is instant
and works on a run copied from another machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lth_tf.core.cost import human
from lth_tf.core.errors import LthError
from lth_tf.core.events import DISTILL_LOSS, STUDENT_LOSS, TEACHER_LOSS
from lth_tf.storage import atomic, rundir
from lth_tf.storage.summary import DENSE_KEYS, TICKET_KEYS


def load_summary(run_dir: str | Path) -> dict[str, Any]:
    summary = rundir.read_summary(Path(run_dir))
    if summary is None:
        raise LthError(
            f"{run_dir} has no summary.json yet; run `lth-tf run` until a round finishes"
        )
    problem = summary_problem(summary)
    if problem:
        raise rundir.corrupt_summary(Path(run_dir), problem)
    return summary


def summary_problem(summary: dict[str, Any]) -> str | None:
    """What keeps `summary` from being reported (a missing or mistyped field), or None."""
    rounds = summary.get("rounds")
    if not isinstance(rounds, list):
        return "no list of 'rounds'"
    for where, items, keys in (
        ("rounds", rounds, rundir.REQUIRED_ROUND_KEYS),
        ("controls", summary.get("controls") or [], rundir.REQUIRED_CONTROL_KEYS),
    ):
        if not isinstance(items, list):
            return f"'{where}' is not a list"
        for i, item in enumerate(items):
            bad = _bad_fields(item, keys)
            if bad:
                return f"{where}[{i}] lacks a valid {bad}"
    for where, keys in (("dense", DENSE_KEYS), ("ticket", TICKET_KEYS)):
        value = summary.get(where)
        bad = None if value is None else _bad_fields(value, keys)
        if bad:
            return f"'{where}' lacks a valid {bad}"
    return None


def _bad_fields(item: Any, keys: tuple[str, ...]) -> str | None:
    """The first of `keys` that `item` lacks or holds as a non-number ('kind' as a non-string)."""
    if not isinstance(item, dict):
        return "entry (not an object)"
    for k in keys:
        v = item.get(k)
        ok = isinstance(v, str) if k == "kind" else _is_number(v)
        if not ok:
            return repr(k)
    for k in ("seconds", "saved_model_bytes", "gzip_bytes"):
        if item.get(k) is not None and not _is_number(item[k]):
            return repr(k)
    size = item.get("inference")
    if size is not None and not (isinstance(size, dict) and all(v is None or _is_number(v) for v in size.values())):
        return "'inference'"
    distill = item.get("distill")
    if distill is not None and not (
        isinstance(distill, dict) and all(v is None or _is_number(v) for v in distill.values())
    ):
        return "'distill'"
    return None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.2f}"


def rounds_table(summary: dict[str, Any]) -> list[str]:
    """Markdown table lines: one row per round, then the controls."""
    dense = (summary.get("dense") or {}).get("test_acc")
    lines = [
        (
            "| round | sparsity % | val acc % | test acc % | delta vs dense | params | nonzeros "
            "| inference FLOPs | student loss | distill loss | teacher loss | seconds | epochs "
            "| examples to here | FLOPs to here |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary.get("rounds", []):
        d = r.get("distill") or {}
        total = r.get("cumulative_cost") or {}
        delta = "" if dense is None else f"{100 * (r['test_acc'] - dense):+.2f}"
        lines.append(
            f"| {r['round']} | {_pct(r['sparsity'])} | {_pct(r['val_acc'])} | {_pct(r['test_acc'])} "
            f"| {delta} | {_size_cells(r.get('inference'))} "
            f"| {_fmt(d.get(STUDENT_LOSS))} | {_fmt(d.get(DISTILL_LOSS))} "
            f"| {_fmt(d.get(TEACHER_LOSS))} | {_seconds(r.get('seconds'))} "
            f"| {_epochs(r)} | {human(total.get('examples'))} | {human(total.get('train_flops'))} |"
        )
    controls = summary.get("controls") or []
    if controls:
        lines += [
            "",
            "| control | round | sparsity % | test acc % | delta vs dense |",
            "|---|---:|---:|---:|---:|",
        ]
        for c in controls:
            delta = "" if dense is None else f"{100 * (c['test_acc'] - dense):+.2f}"
            lines.append(
                f"| {c['kind']} | {c['round']} | {_pct(c['sparsity'])} | {_pct(c['test_acc'])} | {delta} |"
            )
    return lines


def _size_cells(size: Any) -> str:
    """params | nonzeros | inference FLOPs per example (flops.inference_size); blank when not recorded."""
    if not isinstance(size, dict):
        return " |  | "
    params, nonzeros = (_count(size.get(k)) for k in ("params", "nonzeros"))
    return f"{params} | {nonzeros} | {human(size.get('flops'))}"


def _count(x: float | None) -> str:
    return "" if x is None else f"{int(x):,}"


def _seconds(x: float | None) -> str:
    # None is a valid stored value (events.clean turns a non-finite time into null).
    return "" if x is None else f"{x:.1f}"


def _epochs(r: dict[str, Any]) -> str:
    """Epochs trained, marked '*' when an early-bird round stopped before its last epoch."""
    epochs = (r.get("cost") or {}).get("epochs")
    if epochs is None:
        return ""
    return f"{epochs}*" if r.get("stopped_at") else str(epochs)


def cost_line(ticket: dict[str, Any]) -> str | None:
    """'cost of the ticket: ...', the compute of all rounds up to the ticket's, or None."""
    total = ticket.get("cumulative_cost")
    if not isinstance(total, dict):
        return None
    return (
        f"cost of the ticket (rounds 0..{ticket['round']}): {human(total.get('examples'))} examples, "
        f"{total.get('steps')} steps, {human(total.get('train_flops'), 'FLOPs')} (estimated), "
        f"{_seconds(total.get('seconds'))} s training"
    )


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.4f}"


def write_report(run_dir: str | Path, plots: bool = True) -> str:
    """Write RUN_DIR/report.md (and accuracy.png); return the report text."""
    run_dir = Path(run_dir)
    summary = load_summary(run_dir)
    ticket = summary.get("ticket")
    head = [f"# Lottery run {run_dir.name}", ""]
    head.append(
        f"status: {summary.get('status')}, preset: {summary.get('preset')}, "
        f"config hash: {summary.get('config_hash')}"
    )
    if summary.get("dense"):
        head.append(
            f"dense: val {_pct(summary['dense']['val_acc'])}%, test {_pct(summary['dense']['test_acc'])}%"
        )
    if ticket:
        line = (
            f"winning ticket: round {ticket['round']}, sparsity {_pct(ticket['sparsity'])}%, "
            f"test {_pct(ticket['test_acc'])}% "
            + (f"at {ticket['path']}" if ticket.get("path") else "(not exported; run `lth-tf export`)")
        )
        if ticket.get("saved_model_bytes") is not None and ticket.get("gzip_bytes") is not None:
            line += (
                f" (SavedModel {ticket['saved_model_bytes'] / 1e6:.3f} MB, "
                f"{ticket['gzip_bytes'] / 1e6:.3f} MB gzip)"
            )
        head.append(line)
        cost = cost_line(ticket)
        if cost:
            head.append(cost)
    elif summary.get("status") == "finished":
        head.append("winning ticket: none (no pruned round matched dense validation accuracy)")
    head += model_lines(run_dir) + dense_source_lines(run_dir)
    notes = [""]
    if any(r.get("stopped_at") for r in summary.get("rounds", [])):
        notes.append("epochs marked * : an early-bird round stopped once its next mask was stable")
    channels = [r for r in summary.get("rounds", []) if _is_number(r.get("channel_sparsity"))]
    if channels:
        removed = ", ".join(f"{r['round']}: {_pct(r['channel_sparsity'])}" for r in channels)
        notes.append("channel pruning: params, nonzeros and inference FLOPs are the narrowed model's "
                     f"(lth-tf export --format narrow); channels removed % by round {removed}")
    text = "\n".join(head + [""] + rounds_table(summary) + notes).rstrip("\n") + "\n"
    if plots and summary.get("rounds"):
        plot_accuracy(summary, rundir.plot_path(run_dir))
        text += f"\n![test accuracy against sparsity]({rundir.PLOT_FILE})\n"
    atomic.write_text_atomic(rundir.report_path(run_dir), text)
    return text


def dense_source_lines(run_dir: Path) -> list[str]:
    """A line when round 0 was copied from another run (--dense-from) instead of trained here."""
    if 0 not in rundir.completed_rounds(run_dir):
        return []
    source = rundir.round_metrics(run_dir, 0).get("reused_from")
    if not isinstance(source, dict):
        return []
    line = (f"dense round 0: copied from {source.get('run_dir')} (--dense-from), not trained "
            "here; its cost still counts in the cumulative cost")
    return [line]


def model_lines(run_dir: Path) -> list[str]:
    """What the last run_started event said about the model: changes made, layers left dense."""
    started = [e for e in rundir.read_events(run_dir) if e.get("event") == "run_started"]
    if not started:
        return []
    last = started[-1]
    lines = [f"model change: {note}" for note in last.get("model_notes") or []]
    dense = last.get("unpruned_layers") or []
    if dense:
        names = ", ".join(f"{d.get('name')} ({d.get('class')})" for d in dense if isinstance(d, dict))
        lines.append(f"not pruned (nothing prunes them, or excluded): {names}")
    return lines


def plot_accuracy(summary: dict[str, Any], path: Path) -> Path:
    """Test accuracy against sparsity, with the dense line and the controls."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = summary["rounds"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [100 * r["sparsity"] for r in rounds]
    ax.plot(xs, [100 * r["test_acc"] for r in rounds], "o-", label="ticket (test)")
    if summary.get("dense"):
        ax.axhline(100 * summary["dense"]["test_acc"], color="gray", ls="--", label="dense (test)")
    markers = {"random_reinit": "x", "random_mask": "s"}
    colors = {"random_reinit": "C3", "random_mask": "C2"}
    for kind in sorted({c["kind"] for c in summary.get("controls") or []}):
        cs = [c for c in summary["controls"] if c["kind"] == kind]
        ax.scatter(
            [100 * c["sparsity"] for c in cs],
            [100 * c["test_acc"] for c in cs],
            marker=markers.get(kind, "^"),
            color=colors.get(kind, "C4"),
            label=kind.replace("_", " "),
            zorder=3,
        )
    ax.set_title(f"{path.parent.name}", fontsize=9)
    ax.set_xlabel("sparsity (% of prunable weights zero)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
