"""The run screen's handling of the workers' own messages (all but lottery events):
the step-mode driver's phases and waits, the search it opened, its outcome,
problems, and the summary an attached run loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tui import messages as m
from tui.widgets import RoundsTable
from tui.worker import DRIVER_ALIVE


class DriverMessages:
    """Mixed into RunScreen, which holds the attributes below (and is a textual Screen)."""

    phase: str
    next_step: str
    quitting: bool
    search: Any
    run_dir: Path | None
    state: Any
    gate: Any

    def step_status(self) -> None:
        """The status line for the step-mode phase."""
        if self.phase == "waiting":
            self.set_status(f"⏸ waiting — n: {self.next_step} · c: run to the end", "waiting")
        elif self.phase == "running":
            r = self.state.current
            what = f"training round {r}" if r is not None else "training"
            if self.gate.auto:
                self.set_status(f"▶ {what} — continuing to the end (p: wait after it)")
            else:
                self.set_status(f"▶ {what} — waits after it (c: no waits)")

    def on_summary_loaded(self, msg: m.SummaryLoaded) -> None:
        self.state.apply_summary(msg.summary)
        self.refresh_all()
        if msg.summary.get("status") == "finished":
            self.set_status(f"✓ done · {self.ticket_text()}", "done")

    def on_search_ready(self, msg: m.SearchReady) -> None:
        self.search = msg.search
        self.run_dir = Path(msg.run_dir)
        self.log_line(f"run directory: {msg.run_dir}")

    def on_waiting(self, msg: m.Waiting) -> None:
        self.next_step = msg.next_step
        if self.phase in DRIVER_ALIVE and not self.quitting:
            self.set_phase("waiting")
            self.step_status()

    def on_status(self, msg: m.Status) -> None:
        if msg.phase and self.phase in DRIVER_ALIVE:
            self.set_phase(msg.phase)
        if not self.quitting:
            self.set_status(msg.text)

    def on_driver_done(self, msg: m.DriverDone) -> None:
        self.set_phase(msg.outcome)
        self.export_after_driver()
        if msg.outcome == "stopped":
            table = self.query_one(RoundsTable)
            for r in self.state.drop_unfinished():
                table.remove_round(r)
            self.refresh_all()
            self.log_line("stopped; the run is resumable (same settings resume after the last round)")
            self.set_status("■ stopped — run again with the same settings to resume", "done")
        elif msg.outcome == "finished":
            self.set_status(f"✓ done · {self.ticket_text()}", "done")
        if self.quitting:
            self.app.exit()

    def on_problem(self, msg: m.Problem) -> None:
        self.log_line(f"[red]{msg.text}[/]")
        self.notify(msg.text, severity="error", timeout=10)
