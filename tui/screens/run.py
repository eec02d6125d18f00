"""The run screen: a lottery-ticket run, live, round by round.

Two modes share every widget:
- step: a thread worker drives `LotterySearch`; after each round it waits for
  `n` (next), or runs on after `c` (continue) until `p` (wait after the round).
- attach: a thread worker follows RUN_DIR/events.jsonl (a finished run replays).
Workers post messages (tui.messages); only this screen touches widgets.
Below 110x34 the layout is compact (tui/screens/layout.py): the rounds table
over one panel that `v` picks. The panels' refresh and the table cursor are in
tui/screens/run_panels.py, the workers' other messages in run_driver.py, the keys in
run_keys.py, `e` in exporting.py.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, RichLog

from lth_tf.core import config as C
from lth_tf.core import events as E
from tui import messages as m
from tui.screens.exporting import ExportKey
from tui.screens.layout import VIEWS, is_compact
from tui.screens.run_driver import DriverMessages
from tui.screens.run_keys import StepKeys
from tui.screens.run_panels import RunPanels
from tui.state import RunState, pct, points
from tui.widgets import AccuracyChart, CurvesPanel, LayerBars, RoundProgress, RoundsTable
from tui.worker import DRIVER_ALIVE, StepGate, drive, follow


class RunScreen(StepKeys, DriverMessages, RunPanels, ExportKey, Screen):
    # Short descriptions: every hint fits on one footer line at 80 columns.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "next_round", "Next"),  # the status line names the next step
        Binding("c", "continue_run", "Continue"),
        Binding("p", "wait_after_round", "Wait after round"),
        Binding("e", "export", "Export"),
        Binding("v", "next_view", "View"),
        Binding("q", "quit_run", "Quit"),
    ]

    def __init__(
        self,
        *,
        exp: C.Experiment | None = None,
        out: str | Path = "checkpoints",
        data_dir: str | Path | None = None,
        attach: str | Path | None = None,
    ) -> None:
        super().__init__()
        if (exp is None) == (attach is None):
            raise ValueError("RunScreen needs exactly one of exp (step mode) or attach")
        self.mode = "attach" if attach is not None else "step"
        self.exp, self.out, self.data_dir = exp, out, data_dir
        self.run_dir: Path | None = Path(attach) if attach is not None else None
        self.state = RunState()
        self.gate = StepGate()
        self.stop_follow = threading.Event()
        self.search: Any = None
        self.phase = "starting" if self.mode == "step" else "following"
        self.next_step = ""
        self.quitting = False
        self.follow_latest = True  # the table cursor follows the newest round
        self._followed_row: int | None = None  # where following last put the cursor
        self.export_round: int | None = None  # see ExportKey
        self.export_running = False
        self.export_note: str | None = None  # the last export's outcome, after the status
        self._status: tuple[str, str] = ("", "")  # the status line under an export's
        self._run_name = exp.run_name() if exp is not None else Path(attach).name  # in the title
        self.view = VIEWS[0]  # compact layout: the panel shown under the rounds table

    # -- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            yield RoundsTable(id="rounds")
            with VerticalScroll(id="layers"):
                yield LayerBars(id="layer-bars")
        with Horizontal(id="middle"):
            yield AccuracyChart(id="chart")
            yield CurvesPanel(id="curves")
        yield RoundProgress(id="progress")
        yield RichLog(id="log", markup=True, wrap=True, max_lines=2000)
        yield Footer()

    def on_mount(self) -> None:
        self.add_class(f"view-{self.view}")
        self.query_one("#layers").border_title = "Layer sparsity"
        self.query_one("#chart").border_title = "Test accuracy vs sparsity (log scale of weights left)"
        self.query_one("#curves").border_title = "Curves"
        self.query_one("#log").border_title = "Events"
        self.query_one(RoundsTable).focus()
        if self.mode == "step":
            assert self.exp is not None
            self.title = "lth-tui"
            self.show_mode()
            self.set_status("loading TensorFlow…")
            self.drive_search()
        else:
            assert self.run_dir is not None
            self.show_mode()
            self.set_status(f"following {self.run_dir.name}")
            self.follow_run()

    def on_resize(self, event: events.Resize) -> None:
        # Below 110x34 the panels stack: the rounds table over one panel that `v`
        # picks, the status on a line of its own (tui/app.tcss, `.compact`).
        compact = is_compact(event.size.width, event.size.height)
        if compact != self.has_class("compact"):
            self.set_class(compact, "compact")
            self.refresh_bindings()  # `v` is shown only when compact

    def on_unmount(self) -> None:
        # Release the threads whatever the way out, so the process can exit.
        self.gate.quit()
        self.stop_follow.set()

    # -- workers (threads; they post messages, never touch widgets) ----------------------
    @work(thread=True, exclusive=True, group="run", name="lottery search")
    def drive_search(self) -> None:
        assert self.exp is not None
        outcome = drive(self.exp, self.out, self.data_dir, self.gate, self.post_message)
        self.post_message(m.DriverDone(outcome))

    @work(thread=True, exclusive=True, group="run", name="follow events")
    def follow_run(self) -> None:
        assert self.run_dir is not None
        follow(self.run_dir, self.stop_follow, self.post_message)

    # -- helpers ------------------------------------------------------------------------
    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self.refresh_bindings()  # the stepping keys go once the driver is done
        self.show_mode()

    def mode_text(self) -> str:
        """What the title says the run is doing: step mode, running to the end, or how it ended."""
        if self.mode == "attach":
            return "attached"
        if self.phase not in DRIVER_ALIVE:
            return self.phase  # finished, stopped, failed
        return "running to the end" if self.gate.auto else "step mode"

    def show_mode(self, run_name: str | None = None) -> None:
        """The sub-title: the run's name and `mode_text()`."""
        if run_name is not None:
            self._run_name = run_name
        self.sub_title = f"{self._run_name} · {self.mode_text()}"

    def log_line(self, text: str) -> None:
        self.query_one(RichLog).write(text)

    def set_status(self, text: str, kind: str = "") -> None:
        """The run's status line; while an export runs it says so instead, and the
        last export's outcome (or a queued one) follows the run's status."""
        self._status = (text, kind)
        if self.export_running:
            text, kind = f"⤓ exporting round {self.export_round}…", "waiting"
        elif self.export_round is not None:
            text = f"{text} · export of round {self.export_round} queued"
        elif self.export_note:
            text = f"{text} · {self.export_note}"
        self.query_one(RoundProgress).set_status(text, kind)

    def ticket_text(self) -> str:
        t = self.state.ticket
        if not t:
            why = (self.state.no_ticket or "").removeprefix("no ticket: ").split(",")[0]
            return f"no winning ticket ({why})" if why else "no winning ticket"
        return f"ticket round {t.get('round')}: {pct(t.get('sparsity'))} sparse, {pct(t.get('test_acc'))} test"

    # -- messages from the workers --------------------------------------------------------
    def on_lth_event(self, msg: m.LthEvent) -> None:
        handlers = {
            E.RunStarted: self._run_started,
            E.RoundStarted: self._round_started,
            E.EpochEnd: self._epoch_ended,
            E.RoundFinished: self._round_finished,
            E.ControlFinished: self._control_finished,
            E.TicketExported: self._ticket_exported,
            E.RunFinished: self._run_finished,
            E.RunFailed: self._run_failed,
        }
        handlers[type(msg.record)](msg.record, msg)

    def _run_started(self, e: E.RunStarted, msg: m.LthEvent) -> None:
        table = self.query_one(RoundsTable)
        for r in [r for r, info in self.state.rounds.items() if not info.finished]:
            table.remove_round(r)
        self.state.start(e.run_dir, e.preset, e.rounds, e.model, e.dataset, e.config)
        self.show_mode(Path(e.run_dir).name)
        resumed = "" if e.resumed_from is None else f", resuming after round {e.resumed_from}"
        kd = " with KD" if self.state.kd_enabled else ""
        self.log_line(
            f"[b]run started[/b]: {e.preset or 'custom'} · {e.model} on {e.dataset}, "
            f"{e.rounds} pruning rounds{kd}{resumed}"
        )
        self.refresh_chart()

    def _round_started(self, e: E.RoundStarted, msg: m.LthEvent) -> None:
        info = self.state.round_started(e.round, e.target_sparsity, e.epochs)
        self.refresh_round(info)
        self.query_one(RoundProgress).show_round(info)
        target = "dense" if e.round == 0 else f"target sparsity {pct(e.target_sparsity)}"
        self.log_line(f"round {e.round} started: {target}, {e.epochs} epochs")
        if self.mode == "step" and self.phase in ("starting", "running"):
            self.set_phase("running")
            self.step_status()

    def _epoch_ended(self, e: E.EpochEnd, msg: m.LthEvent) -> None:
        info = self.state.epoch(e.round, e.epoch, e.epochs, msg.history, msg.epoch_seconds)
        self.query_one(RoundsTable).show_round(info, self.state)
        self.query_one(RoundProgress).show_round(info)
        if self.selected_round() == e.round:
            curves = self.query_one(CurvesPanel)
            curves.border_title = curves.show(info, self.state.kd_enabled, self.state.kd_from_round)

    def _round_finished(self, e: E.RoundFinished, msg: m.LthEvent) -> None:
        info = self.state.round_finished(
            e.round,
            sparsity=e.sparsity,
            val_acc=e.val_acc,
            test_acc=e.test_acc,
            seconds=e.seconds,
            layer_sparsity=e.layer_sparsity,
            distill=e.distill,
            history=msg.history,
            cost=e.cost,
            stopped_at=(e.early_bird or {}).get("stopped_at"),
            inference=e.inference,
        )
        if e.round == 0:
            self.refresh_all()  # every row's Δ dense changes
        self.refresh_round(info)
        self.query_one(RoundProgress).show_round(info)
        self.refresh_chart()
        delta = "" if e.round == 0 else f" ({points(self.state.delta_to_dense(info))} vs dense)"
        self.log_line(
            f"round {e.round} finished: sparsity {pct(e.sparsity)}, val {pct(e.val_acc)}, "
            f"test {pct(e.test_acc)}{delta}"
        )

    def _control_finished(self, e: E.ControlFinished, msg: m.LthEvent) -> None:
        self.state.control(e.kind, e.round, e.sparsity, e.test_acc, e.val_acc)
        self.refresh_chart()
        imp = self.state.rounds.get(e.round)
        vs = ""
        if imp is not None and imp.test_acc is not None and e.test_acc is not None:
            vs = f" ({points(e.test_acc - imp.test_acc)} vs IMP round {e.round})"
        self.log_line(f"control {e.kind} at round {e.round}: test {pct(e.test_acc)}{vs}")

    def _ticket_exported(self, e: E.TicketExported, msg: m.LthEvent) -> None:
        self.state.ticket = {"round": e.round, "sparsity": e.sparsity,
                             "test_acc": e.test_acc, "path": e.path}
        self.refresh_all()
        self.log_line(f"[b]winning ticket[/b]: round {e.round}, {pct(e.sparsity)} sparse, "
                      f"test {pct(e.test_acc)} → {self.short_path(e.path)}")

    def _run_finished(self, e: E.RunFinished, msg: m.LthEvent) -> None:
        self.state.status = "finished"
        if e.ticket:
            self.state.ticket = e.ticket
        self.state.no_ticket = e.no_ticket
        self.refresh_all()
        self.query_one(RoundProgress).show_round(None, "Run finished")
        self.log_line(f"[b]run finished[/b]: {self.ticket_text()}")
        self.set_status(f"✓ done · {self.ticket_text()}", "done")

    def _run_failed(self, e: E.RunFailed, msg: m.LthEvent) -> None:
        error = e.error.removeprefix("LthError: ")  # a user's mistake reads as the CLI prints it
        if self.state.status == "failed" and self.state.error == error:
            return  # the search's run_failed event, then the driver's own report
        self.state.status, self.state.error = "failed", error
        table = self.query_one(RoundsTable)
        for r in self.state.drop_unfinished():
            table.remove_round(r)
        self.refresh_all()
        self.query_one(RoundProgress).show_round(None, "Run failed")
        where = "" if e.round is None else f" in round {e.round}"
        self.log_line(f"[red b]run failed{where}[/]: {error}")
        self.set_status(f"✗ failed: {error}", "error")
        self.notify(error, title="Run failed", severity="error", timeout=10)
