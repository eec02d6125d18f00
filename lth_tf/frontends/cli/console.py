"""Console output for `lth-tf run`: rich progress bars, or plain lines with --quiet.

Both are event sinks; they write to stderr so stdout carries only the run dir.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from lth_tf.core.events import DISTILL_LOSS, STUDENT_LOSS, TEACHER_LOSS, Event


def round_line(e: Event) -> str:
    """One line describing a finished round (shared by both sinks)."""
    text = (
        f"round {e['round']:>2}  sparsity {100 * e['sparsity']:6.2f}%  "
        f"val {100 * (e.get('val_acc') or 0):5.2f}%  test {100 * (e.get('test_acc') or 0):5.2f}%  "
        f"{e.get('seconds') or 0:6.1f}s"
    )
    if e.get("reused_from"):  # round 0 copied from another run (--dense-from), not trained
        text += f"  copied (--dense-from {e['reused_from'].get('run_dir')})"
    d = e.get("distill")
    if d:
        text += (
            f"  KD student {_num(d.get(STUDENT_LOSS), '.3f')}"
            f" distill {_num(d.get(DISTILL_LOSS), '.3f')}"
            f" teacher {_num(d.get(TEACHER_LOSS), '.3f')}"
        )
    return text


def describe(e: Event) -> str | None:
    """A plain log line for the events worth a line; None for the rest."""
    name = e["event"]
    if name == "round_started":
        target = e.get("target_sparsity") or 0.0
        return (
            f"round {e['round']:>2}: training {e['epochs']} epochs at {100 * target:.2f}% sparsity"
        )
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
        text = (
            f"ticket: round {e['round']}, sparsity {100 * e['sparsity']:.2f}%,"
            f" test {100 * (e.get('test_acc') or 0):.2f}% -> {e['path']}"
        )
        if e.get("saved_model_bytes") is not None and e.get("gzip_bytes") is not None:
            text += f" ({e['saved_model_bytes'] / 1e6:.3f} MB, {e['gzip_bytes'] / 1e6:.3f} MB gzip)"
        return text
    # run_failed: no line; the CLI prints the error itself (one line, or a traceback)
    if name == "run_finished":
        why = f" (winning ticket: none; {e['no_ticket'].removeprefix('no ticket: ')})" if e.get("no_ticket") else ""
        return f"finished: {e['run_dir']}{why}"
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
            self.console.print(describe(e), markup=False)
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
            info = f"loss {_num(e.get('loss'), '.3f')} val_acc {_num(e.get('val_acc'), '.1%')}"
            self.progress.update(self.epoch_task, completed=e["epoch"], info=info)
        elif name == "round_finished":
            if self.rounds_task is not None:
                self.progress.advance(self.rounds_task)
            self.progress.console.print(round_line(e), markup=False)
        else:
            line = describe(e)
            if line:
                self.progress.console.print(line, markup=False)


def epoch_line(e: Event) -> str:
    return (
        f"round {e['round']:>2} epoch {e['epoch']}/{e['epochs']}  loss {_num(e.get('loss'), '.4f')}"
        f"  val {_num(e.get('val_acc'), '.2%')}"
    )


def _num(x, spec: str) -> str:
    """A number formatted, or "nan" for the None that events carry for NaN/inf."""
    return "nan" if x is None else format(x, spec)


class PlainSink:
    """--quiet, or stderr not a terminal: plain lines, no bars.

    A line per round start and end, controls, ticket and finish; epoch lines at
    most every `epoch_interval` seconds, so long rounds show progress in a log
    without a line per epoch.
    """

    def __init__(self, stream=None, epoch_interval: float = 30.0):
        self.stream = stream
        self.epoch_interval = epoch_interval
        self._last = time.monotonic()

    def __call__(self, e: Event) -> None:
        if e["event"] == "epoch_end":
            if time.monotonic() - self._last < self.epoch_interval or e["epoch"] == e["epochs"]:
                return
            line = epoch_line(e)
        else:
            line = describe(e)
        if line:
            print(line, file=self.stream or sys.stderr, flush=True)
            self._last = time.monotonic()


@contextlib.contextmanager
def console_sink(quiet: bool = False) -> Iterator[Callable[[Event], None]]:
    if quiet or not sys.stderr.isatty():
        yield PlainSink()
        return
    sink = RichSink(Console(stderr=True))
    with sink.progress:
        yield sink
