"""Console output for `lth-tf run`: rich progress bars, or plain lines with --quiet.

Both are event sinks; they write to stderr so stdout carries only the run dir.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from lth_tf.events import Event


def round_line(e: Event) -> str:
    """One line describing a finished round (shared by both sinks)."""
    text = (
        f"round {e['round']:>2}  sparsity {100 * e['sparsity']:6.2f}%  "
        f"val {100 * (e.get('val_acc') or 0):5.2f}%  test {100 * (e.get('test_acc') or 0):5.2f}%  "
        f"{e.get('seconds', 0):6.1f}s"
    )
    d = e.get("distill")
    if d:
        text += (
            f"  KD student {d.get('student_loss', float('nan')):.3f}"
            f" distill {d.get('distill_loss', float('nan')):.3f}"
            f" teacher {d.get('teacher_loss', float('nan')):.3f}"
        )
    return text


def describe(e: Event) -> str | None:
    """A plain log line for the events worth a line; None for the rest."""
    name = e["event"]
    if name == "run_started":
        resumed = e.get("resumed_from")
        how = f"resuming after round {resumed}" if resumed is not None else "starting"
        return f"{how}: {e['run_dir']} ({e['model']} on {e['dataset']}, {e['rounds']} rounds)"
    if name == "round_finished":
        return round_line(e)
    if name == "control_finished":
        return (
            f"control {e['kind']} at round {e['round']}: sparsity {100 * e['sparsity']:.2f}%"
            f"  test {100 * (e.get('test_acc') or 0):.2f}%"
        )
    if name == "ticket_exported":
        return (
            f"ticket: round {e['round']}, sparsity {100 * e['sparsity']:.2f}%,"
            f" test {100 * (e.get('test_acc') or 0):.2f}% -> {e['path']}"
        )
    if name == "run_failed":
        return f"run failed in round {e.get('round')}: {e.get('error')}"
    if name == "run_finished":
        return f"finished: {e['run_dir']}"
    return None


class RichSink:
    """Round and epoch bars with ETA, and a line per finished round."""

    def __init__(self, console: Console):
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
            transient=False,
        )
        self.rounds_task = None
        self.epoch_task = None

    def __call__(self, e: Event) -> None:
        name = e["event"]
        if name == "run_started":
            self.console.print(describe(e))
            done = (e.get("resumed_from") + 1) if e.get("resumed_from") is not None else 0
            if self.rounds_task is None:
                self.rounds_task = self.progress.add_task(
                    "rounds", total=e["rounds"] + 1, completed=done, info=""
                )
        elif name == "round_started":
            if self.epoch_task is not None:
                self.progress.remove_task(self.epoch_task)
            self.epoch_task = self.progress.add_task(
                f"round {e['round']:>2} epochs", total=e["epochs"], info=""
            )
        elif name == "epoch_end" and self.epoch_task is not None:
            info = f"loss {e.get('loss', 0):.3f} val_acc {100 * (e.get('val_acc') or 0):.1f}%"
            self.progress.update(self.epoch_task, completed=e["epoch"], info=info)
        elif name == "round_finished":
            if self.rounds_task is not None:
                self.progress.advance(self.rounds_task)
            self.progress.console.print(round_line(e))
        else:
            line = describe(e)
            if line:
                self.progress.console.print(line)


class PlainSink:
    """--quiet: plain lines, no bars."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream

    def __call__(self, e: Event) -> None:
        line = describe(e)
        if line:
            print(line, file=self.stream, flush=True)


@contextlib.contextmanager
def console_sink(quiet: bool = False) -> Iterator[Callable[[Event], None]]:
    if quiet or not sys.stderr.isatty():
        yield PlainSink()
        return
    sink = RichSink(Console(stderr=True))
    with sink.progress:
        yield sink
