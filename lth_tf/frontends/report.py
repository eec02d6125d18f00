"""Reports from a run directory: report.md and the figure accuracy.png/.svg.

What the report holds, top to bottom: the run's status; its settings (rewind,
rate, rounds, epochs, KD); the dense accuracies; the winner rule
(`lth_tf.core.winner`, the one definition) and the winning ticket, or why there
is none; the ticket beside the controls at the same sparsity; the examples per
class in each split; every round; and the figure (lth_tf/frontends/figures.py).

Reads summary.json and events.jsonl (nothing from TensorFlow), so reporting is
instant and works on a run copied from another machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lth_tf.core import criteria
from lth_tf.core import winner as W
from lth_tf.core.cost import human
from lth_tf.core.errors import LthError
from lth_tf.core.events import DISTILL_LOSS, STUDENT_LOSS, TEACHER_LOSS
from lth_tf.frontends import figures
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


def _counts_channels(structure: Any) -> bool:
    """Whether prune.rate counts channels: the criterion removes whole channels (an unknown name: no)."""
    crit = criteria.CRITERIA.get(structure) if isinstance(structure, str) else None
    return bool(crit and crit.channels)


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
    """Write RUN_DIR/report.md (and accuracy.png, accuracy.svg); return the report text."""
    run_dir = Path(run_dir)
    summary = load_summary(run_dir)
    started = last_run_started(run_dir)
    config = (started or {}).get("config") or {}
    decision = run_decision(summary, config, started)
    ticket = summary.get("ticket")
    head = [f"# Lottery run {run_dir.name}", ""]
    head.append(
        f"status: {summary.get('status')}, preset: {summary.get('preset') or 'none'}, "
        f"config hash: {summary.get('config_hash')}"
    )
    if config:
        head.append(f"settings: {settings_line(config)}")
    if summary.get("dense"):
        head.append(
            f"dense: val {_pct(summary['dense']['val_acc'])}%, test {_pct(summary['dense']['test_acc'])}%"
        )
    head.append(f"winner rule: {W.rule_text(decision.tolerance)}")
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
        if decision.round == ticket["round"] and decision.last_planned:
            line += "; the last round planned: sparser tickets may match too"
        head.append(line)
        cost = cost_line(ticket)
        if cost:
            head.append(cost)
    elif summary.get("status") == "finished":
        head.append(f"winning ticket: none ({_none_reason(decision)})")
    elif decision.round is not None:
        head.append(f"ticket so far (the run is {summary.get('status')}): round {decision.round}, "
                    f"sparsity {W.reach(decision)}")
    head += [f"data warning: {w}" for w in (started or {}).get("data_warnings") or []]
    head += model_lines(started) + dense_source_lines(run_dir)
    notes = [""]
    if any(r.get("stopped_at") for r in summary.get("rounds", [])):
        notes.append("epochs marked * : an early-bird round stopped once its next mask was stable")
    channels = [r for r in summary.get("rounds", []) if _is_number(r.get("channel_sparsity"))]
    if channels:
        removed = ", ".join(f"{r['round']}: {_pct(r['channel_sparsity'])}" for r in channels)
        notes.append("channel pruning: params, nonzeros and inference FLOPs are the narrowed model's "
                     f"(lth-tf export --format narrow); channels removed % by round {removed}")
    body = ticket_table(summary, decision, config) + split_table((started or {}).get("split_sizes"))
    text = "\n".join(head + [""] + body + rounds_table(summary) + notes).rstrip("\n") + "\n"
    if plots and summary.get("rounds"):
        plot_accuracy(summary, rundir.plot_paths(run_dir), decision=decision, config=config)
        text += f"\n![test accuracy against the weights remaining]({rundir.PLOT_FILE})\n"
    atomic.write_text_atomic(rundir.report_path(run_dir), text)
    return text


def _none_reason(decision: W.Decision) -> str:
    return decision.reason.removeprefix("no ticket: ")


def run_decision(summary: dict[str, Any], config: dict[str, Any], started: dict[str, Any] | None
                 ) -> W.Decision:
    """The winner rule's decision on the summary's rounds, with the run's tolerance, classes and plan
    (from the summary's `winner` and `num_classes`, else the run_started event: older summaries)."""
    recorded = summary.get("winner") if isinstance(summary.get("winner"), dict) else {}
    tolerance = recorded.get("tolerance", (config.get("prune") or {}).get("tolerance", 0.0))
    classes = summary.get("num_classes") or (started or {}).get("num_classes")
    planned = (started or {}).get("rounds")
    return W.decide(summary.get("rounds") or [], float(tolerance or 0.0),
                    classes if isinstance(classes, int) else None,
                    planned if isinstance(planned, int) else None)


def _plural(n: Any, noun: str) -> str:
    """'1 epoch', '200 epochs'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def settings_line(config: dict[str, Any]) -> str:
    """The settings that shape a lottery run, in one line: model, data, rewind, rate, rounds, epochs, KD."""
    prune, train = config.get("prune") or {}, config.get("train") or {}
    distill, model, data = config.get("distill") or {}, config.get("model") or {}, config.get("data") or {}
    rate = prune.get("rate")
    schedule = prune.get("rate_schedule") or "constant"
    how = (f"rate schedule {schedule}" if schedule != "constant"
           else f"{100 * rate:g}% of the remaining {'channels' if _counts_channels(prune.get('structure')) else 'weights'}"
           " per round" if _is_number(rate) else "rate ?")
    rounds = prune.get("rounds")
    plan = (f"one shot to the sparsity of {_plural(rounds, 'round')}" if prune.get("one_shot")
            else _plural(rounds, "round"))
    kd = (f"KD on (alpha {distill.get('alpha')}, temperature {distill.get('temperature')})"
          if distill.get("enabled") else "KD off")
    parts = [
        f"{model.get('name')} on {data.get('name')}",
        f"rewind {prune.get('rewind')}",
        f"{how} ({prune.get('scope')}, {prune.get('structure')})",
        plan,
        f"{_plural(train.get('epochs'), 'epoch')} per round",
        kd,
        f"seed {config.get('seed')}",
    ]
    if prune.get("early_bird"):
        parts.insert(4, "early-bird rounds")
    return ", ".join(parts)


def ticket_table(summary: dict[str, Any], decision: W.Decision, config: dict[str, Any]) -> list[str]:
    """The ticket beside the controls at the same sparsity: one row per round that has a control
    or is the ticket, the rewound round's test accuracy next to each control's."""
    controls = summary.get("controls") or []
    if not controls and decision.round is None:
        return []
    kinds = sorted({c["kind"] for c in controls})
    rows = {r["round"]: r for r in summary.get("rounds", [])}
    wanted = sorted({c["round"] for c in controls} | ({decision.round} if decision.round is not None else set()))
    head = ["round", "sparsity %", "lottery round test %"] + [f"{k.replace('_', ' ')} test %" for k in kinds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for r in wanted:
        row = rows.get(r)
        if row is None:
            continue
        by_kind = {c["kind"]: c for c in controls if c["round"] == r}
        cells = [_pct(by_kind[k]["test_acc"]) if k in by_kind else "" for k in kinds]
        mark = " ★ ticket" if r == decision.round else ""
        lines.append("| " + " | ".join([f"{r}{mark}", _pct(row["sparsity"]), _pct(row["test_acc"]), *cells]) + " |")
    if decision.round is not None and controls and decision.round not in {c["round"] for c in controls}:
        lines += ["", (f"No control ran at the ticket's round {decision.round} (prune.control_rounds = "
                      f"{(config.get('prune') or {}).get('control_rounds', 'last')}); "
                      f"--set prune.control_rounds={decision.round} and run again to add them.")]
    return lines + [""]


def split_table(sizes: Any) -> list[str]:
    """Examples per class in each split (run_started.split_sizes), as a table."""
    if not isinstance(sizes, dict) or not sizes.get("classes"):
        return []
    unit = sizes.get("unit", "examples")
    lines = [f"| class | train {unit} | val {unit} | test {unit} |", "|---|---:|---:|---:|"]
    for i, name in enumerate(sizes["classes"]):
        lines.append(f"| {name} | " + " | ".join(str((sizes.get(s) or [""] * (i + 1))[i])
                                                 for s in ("train", "val", "test")) + " |")
    total = " | ".join(str(sum(sizes.get(s) or [])) for s in ("train", "val", "test"))
    return lines + [f"| all | {total} |", ""]


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


def last_run_started(run_dir: Path) -> dict[str, Any] | None:
    """The last run_started event of the run (what it said about model, data and settings)."""
    started = [e for e in rundir.read_events(run_dir) if e.get("event") == "run_started"]
    return started[-1] if started else None


def model_lines(started: dict[str, Any] | None) -> list[str]:
    """What the last run_started event said about the model: changes made, layers left dense."""
    if not started:
        return []
    lines = [f"model change: {note}" for note in started.get("model_notes") or []]
    dense = started.get("unpruned_layers") or []
    if dense:
        names = ", ".join(f"{d.get('name')} ({d.get('class')})" for d in dense if isinstance(d, dict))
        lines.append(f"not pruned (nothing prunes them, or excluded): {names}")
    return lines


def accuracy_panel(summary: dict[str, Any], decision: W.Decision, title: str, subtitle: str = "",
                   rewind: str | None = None) -> figures.Panel:
    """The figure's content for one run: its rounds, dense, controls and ticket."""
    rounds = summary.get("rounds") or []
    label = f"lottery rounds (rewind {rewind})" if rewind else "lottery rounds"
    line = figures.Line(label, [r["sparsity"] for r in rounds], [_acc(r.get("test_acc")) for r in rounds])
    kinds: dict[str, figures.Line] = {}
    for kind in sorted({c["kind"] for c in summary.get("controls") or []}):
        cs = sorted((c for c in summary["controls"] if c["kind"] == kind), key=lambda c: c["round"])
        kinds[kind] = figures.Line(kind, [c["sparsity"] for c in cs], [_acc(c.get("test_acc")) for c in cs])
    panel = figures.Panel(title, subtitle, [line], {label: kinds})
    dense = summary.get("dense") or {}
    if _is_number(dense.get("test_acc")):
        panel.dense[label] = (dense["test_acc"], 0.0)
    chosen = next((r for r in rounds if r["round"] == decision.round), None)
    if chosen is not None:
        panel.tickets[label] = (chosen["sparsity"], _acc(chosen.get("test_acc")), decision.last_planned)
    return panel


def _acc(x: Any) -> float:
    return float(x) if _is_number(x) else float("nan")


def plot_accuracy(summary: dict[str, Any], paths: list[Path], decision: W.Decision | None = None,
                  config: dict[str, Any] | None = None) -> list[Path]:
    """The run's figure (lth_tf/frontends/figures.py) written to `paths` (.png, .svg)."""
    decision = decision or W.decide(summary.get("rounds") or [], 0.0)
    title = f"Lottery run {paths[0].parent.name}: test accuracy against the weights remaining"
    subtitle = settings_line(config) if config else ""
    rewind = ((config or {}).get("prune") or {}).get("rewind")
    fig = figures.build(accuracy_panel(summary, decision, title, subtitle, rewind))
    return figures.save(fig, paths, atomic.write_bytes_atomic)
