"""The background side of the TUI: training driver, step gate, run follower.

Everything here runs in worker threads and talks to the UI only through
`post(message)` (a thread-safe `post_message`). Nothing here imports Textual
widgets, so it can be tested without an app.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.platform import onednn
from lth_tf.platform.placement import Placement
from lth_tf.platform.platform import Platform
from lth_tf.search import run_settings
from lth_tf.storage import rundir
from tui import messages as m
from tui.relay import EventRelay, Post

log = logging.getLogger(__name__)


# -- step mode -----------------------------------------------------------------------

# Phases of the step-mode driver, as the run screen sees them, while it lives.
DRIVER_ALIVE = ("starting", "running", "waiting", "finishing")


@dataclass(frozen=True)
class _Export:
    round: int


_NEXT = "next"
_QUIT = "quit"


class StepGate:
    """Holds the training driver between rounds until the user says go.

    The UI calls `next()`, `keep_going()`, `pause()`, `export(r)` and `quit()`
    from its own thread; the driver calls `between_rounds()`. Exports requested
    while a round trains run at the next stop between rounds, in the driver's
    thread, so TensorFlow is never used by two threads at once.
    """

    def __init__(self, auto: bool = False):
        self.stop = threading.Event()
        self.auto = auto  # True: continue to the end without waiting
        self._commands: queue.Queue[Any] = queue.Queue()

    # -- called by the UI --
    def next(self) -> None:
        self._commands.put(_NEXT)

    def keep_going(self) -> None:
        self.auto = True
        self._commands.put(_NEXT)

    def pause(self) -> None:
        self.auto = False

    def export(self, round: int) -> None:
        self._commands.put(_Export(round))

    def quit(self) -> None:
        self.stop.set()
        self._commands.put(_QUIT)

    def run_pending_exports(self, post: Post, export: Callable[[int], Path]) -> None:
        """Exports asked for while the last step ran (called after `finish()`)."""
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return
            if isinstance(cmd, _Export):
                run_export(export, cmd.round, post)

    # -- called by the driver --
    def between_rounds(self, next_step: str, post: Post, export: Callable[[int], Path]) -> bool:
        """Run pending exports, then wait for `n` unless continuing; False means stop."""
        # Commands given while the round trained: run exports, drop stale `next`s.
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                break
            if cmd == _QUIT:
                return False
            if isinstance(cmd, _Export):
                run_export(export, cmd.round, post)
        if self.stop.is_set():
            return False
        if self.auto:
            return True
        post(m.Waiting(next_step))
        while True:
            cmd = self._commands.get()
            if cmd == _QUIT or self.stop.is_set():
                return False
            if cmd == _NEXT:
                return True
            if isinstance(cmd, _Export):
                run_export(export, cmd.round, post)


def run_export(export: Callable[[int], Path], r: int, post: Post, announce: bool = True) -> None:
    """Export round `r` and say so: ExportStarted (unless `announce` is False: the
    caller did), then Exported or ExportFailed."""
    if announce:
        post(m.ExportStarted(r))
    try:
        path = export(r)
    except LthError as e:
        post(m.ExportFailed(r, str(e)))
    except Exception as e:
        log.exception("export of round %d failed", r)
        post(m.ExportFailed(r, f"export of round {r} failed: {type(e).__name__}: {e}"))
    else:
        post(m.Exported(r, str(path)))


# One TensorFlow job at a time in this process. The training driver holds this
# for its whole life, and the exports it runs between rounds run in its own
# thread (hence reentrant); an export started from the UI in another thread
# takes it without waiting or is refused, so TensorFlow never runs in two
# threads at once even if the screen's own bookkeeping were wrong.
TF_JOBS = threading.RLock()


def export_job(get_search: Callable[[], Any], r: int, post: Post) -> None:
    """An export in a worker thread (attach mode, or after the driver is done)."""
    if not TF_JOBS.acquire(blocking=False):
        post(m.ExportFailed(r, f"export of round {r} not started: a TensorFlow job is running"))
        return
    post(m.ExportStarted(r))  # opening the run loads TensorFlow: part of the wait
    try:
        try:
            search = get_search()
        except LthError as e:
            post(m.ExportFailed(r, str(e)))
            return
        except Exception as e:  # shown in the UI, never a traceback
            log.exception("cannot open the run for export")
            post(m.ExportFailed(r, f"cannot open the run for export: {type(e).__name__}: {e}"))
            return
        from lth_tf.export.ticket import export_round

        run_export(lambda x: export_round(search, x, rundir.export_dir(search.run_dir, x)), r, post,
                   announce=False)
    finally:
        TF_JOBS.release()


def drive(
    exp: C.Experiment,
    out: str | Path,
    data_dir: str | Path | None,
    gate: StepGate,
    post: Post,
) -> str:
    """Run the lottery search step by step; returns finished, stopped or failed.

    Round 0 (dense) starts at once; after every round the gate waits for the
    user (unless continuing); after the last one `finish()` runs the controls
    and exports the ticket. Holds TF_JOBS throughout (see there).
    """
    with TF_JOBS:
        return _drive(exp, out, data_dir, gate, post)


def _drive(
    exp: C.Experiment,
    out: str | Path,
    data_dir: str | Path | None,
    gate: StepGate,
    post: Post,
) -> str:
    relay = EventRelay(post)
    post(m.Status("loading TensorFlow…"))
    try:  # the speed settings: what a resumed run started with, else chosen for this CPU
        placement = Placement.from_settings(exp.train)
        chosen = run_settings.for_run(exp, placement.output_root(out) / exp.run_name())
    except LthError as e:
        return _failed(post, e, "could not open the run")
    onednn.choose(graph=exp.is_graph, enabled=chosen.onednn.value)  # before TF loads (lth_tf/platform/onednn.py)
    try:
        from lth_tf.export.ticket import TicketExporter, export_round
        from lth_tf.search.lottery import LotterySearch, Stopped
    except Exception as e:  # noqa: BLE001 - the UI shows it, never a traceback
        post(m.failed(f"cannot load the training code: {type(e).__name__}: {e}"))
        return "failed"
    try:
        platform = Platform.from_settings(exp.train, placement, chosen)  # this run's strategy: one per process
        search = LotterySearch(exp, out=out, data_dir=data_dir, sink=relay, stop=gate.stop, platform=platform)
    except Exception as e:  # noqa: BLE001 - the UI shows it (see _failed), never a traceback
        return _failed(post, e, "could not open the run")
    run_dir = Path(search.run_dir)
    post(m.SearchReady(search, str(run_dir)))
    if gate.stop.is_set():  # quit while TensorFlow loaded: start nothing
        return "stopped"
    # A resumed run: show the rounds stored before, from its own event log.
    for event in rundir.read_events(run_dir):
        relay(event)

    def export(r: int) -> Path:
        return export_round(search, r, rundir.export_dir(run_dir, r))

    planned = exp.planned_rounds
    try:
        rounds = search.rounds()
        try:
            for result in rounds:
                last = result.round >= planned
                final = "controls and the ticket" if exp.prune.controls else "the ticket"
                step = final if last else f"round {result.round + 1}"
                if not gate.between_rounds(step, post, export):
                    post(m.Status("stopped; run it again to resume"))
                    return "stopped"
        finally:
            rounds.close()
        if gate.stop.is_set():
            return "stopped"
        post(m.Status("running the controls and picking the ticket…", phase="finishing"))
        summary = search.finish(TicketExporter())
        post(m.SummaryLoaded(summary))
        gate.run_pending_exports(post, export)
        return "finished"
    except Stopped:
        post(m.Status("stopped; the unfinished round is discarded, run it again to resume"))
        return "stopped"
    except Exception as e:  # noqa: BLE001 - the UI shows it (see _failed), never a traceback
        return _failed(post, e, "the lottery search failed")


def _failed(post: Post, e: Exception, what: str) -> str:
    """Show an error of the driver (called in its `except`): a user's mistake (LthError)
    as its message alone, anything else with its type, logged with the traceback."""
    if isinstance(e, LthError):
        post(m.failed(str(e)))
    else:
        log.exception(what)
        post(m.failed(f"{type(e).__name__}: {e}"))
    return "failed"


# -- attach mode ---------------------------------------------------------------------


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """summary.json, or None when there is none or it is damaged (the events carry the same facts)."""
    try:
        return rundir.read_summary(run_dir)
    except LthError:
        return None


def follow(run_dir: Path, stop: threading.Event, post: Post, poll: float = 0.2) -> None:
    """Replay RUN_DIR/events.jsonl, then follow it as it grows, until `stop`."""
    relay = EventRelay(post)
    post(m.Status(f"following {run_dir.name}"))
    summary = read_summary(run_dir)
    if summary:
        post(m.SummaryLoaded(summary))
    for event in rundir.follow_events(run_dir, stop, poll=poll):
        relay(event)
        if event.get("event") == "run_finished":
            summary = read_summary(run_dir)
            if summary:
                post(m.SummaryLoaded(summary))


def open_search(run_dir: Path) -> Any:
    """A LotterySearch on an existing run directory (for exports in attach mode)."""
    from lth_tf.search.lottery import LotterySearch

    exp = rundir.read_experiment(run_dir)
    if exp.run_name() != run_dir.name:
        raise LthError(
            f"{run_dir} was renamed (its config names it {exp.run_name()}); "
            f"export with `lth-tf export {run_dir} --round R --out PATH`"
        )
    return LotterySearch(exp, out=run_dir.parent, platform=Platform.single(exp.train))  # exports: one device
