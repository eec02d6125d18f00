"""The `e` key of the run screen: export the selected round, one export at a time.

TensorFlow runs in one thread at a time. While the step-mode driver lives, it
runs exports itself between rounds (queued in its StepGate); otherwise a
worker thread runs the export (tui.worker.export_job takes worker.TF_JOBS).
A second `e` while an export is queued or running is refused with a
notification. Everything else is said in the status line and the log, not in
notifications (which cover the panels): "export of round R queued", "exporting
round R…" while one runs, then "round R exported → PATH" after the run's status
until the next export. A failure also shows an error notification.
"""

from __future__ import annotations

from typing import Any

from textual import work

from tui import messages as m
from tui.worker import DRIVER_ALIVE, export_job, open_search


class ExportKey:
    """Mixed into RunScreen, which holds `export_round` (the export asked for and
    not yet reported: queued in the driver, or running) and `export_running`."""

    export_round: int | None
    export_running: bool
    export_note: str | None
    _status: tuple[str, str]
    mode: str
    phase: str
    quitting: bool
    search: Any
    run_dir: Any
    state: Any
    gate: Any

    # Not `exclusive`: a thread worker cannot be cancelled, so a second one would
    # run TensorFlow beside the first; `action_export` refuses a second export
    # instead, and export_job takes worker.TF_JOBS.
    @work(thread=True, group="export", name="export")
    def export_worker(self, r: int) -> None:
        search, run_dir = self.search, self.run_dir
        export_job(lambda: search if search is not None else open_search(run_dir), r, self.post_message)

    def action_export(self) -> None:
        r = self.selected_round()
        info = self.state.rounds.get(r) if r is not None else None
        if info is None or not info.finished:
            self.notify("select a finished round in the table first", severity="warning")
            return
        if self.export_round is not None:  # one TensorFlow job at a time
            if self.export_running:
                self.notify(f"an export is already running (round {self.export_round}); "
                            "press e again when it is done", severity="warning")
            else:
                self.notify(f"an export of round {self.export_round} is already queued; "
                            "it runs after the step in training", severity="warning")
            return
        if self.mode == "step" and self.phase in DRIVER_ALIVE:
            # The driver runs the export between rounds: one TensorFlow user at a time.
            self.export_round = r
            self.gate.export(r)
            if self.phase != "waiting":
                self.log_line(f"export of round {r} queued: it runs after the step in training")
                self.set_status(*self._status)  # "… · export of round R queued"
        elif self.mode == "step" and self.search is None:
            self.notify("the run never opened; nothing to export", severity="warning")
        else:
            self.export_round, self.export_running = r, True  # a second `e` is refused from now
            self.set_status(*self._status)
            self.export_worker(r)

    def export_after_driver(self) -> None:
        """The driver returned: an export it still had queued (its reports would have
        arrived before DriverDone) runs in a worker now, or is said to be dropped."""
        if self.export_round is None or self.export_running:
            return
        r, self.export_round = self.export_round, None
        if self.quitting:
            return
        if self.search is not None:
            self.export_round, self.export_running = r, True
            self.export_worker(r)
        else:
            self.log_line(f"export of round {r} dropped: the run never opened")

    def on_export_started(self, msg: m.ExportStarted) -> None:
        self.export_round, self.export_running = msg.round, True
        self.export_note = None
        self.log_line(f"exporting round {msg.round}…")
        self.set_status(*self._status)

    def export_ended(self, note: str) -> None:
        self.export_round, self.export_running = None, False
        self.export_note = note
        self.set_status(*self._status)

    def on_exported(self, msg: m.Exported) -> None:
        self.export_ended(f"round {msg.round} exported → {self.short_path(msg.path)}")
        self.log_line(f"[green]round {msg.round} exported[/] → {msg.path}")

    def on_export_failed(self, msg: m.ExportFailed) -> None:
        self.export_ended(f"export of round {msg.round} failed")
        self.log_line(f"[red]export of round {msg.round} failed[/]: {msg.error}")
        self.notify(msg.error, title=f"Export of round {msg.round} failed", severity="error", timeout=10)
