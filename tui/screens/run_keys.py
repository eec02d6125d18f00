"""The run screen's keys: n (next round), c (continue to the end), p (wait after the
round in training: back to stepping; it never interrupts a round), v (view), q (quit).
`e` is in tui/screens/exporting.py. The stepping keys show only while the driver lives."""

from __future__ import annotations

from typing import Any

from tui.screens.layout import VIEWS
from tui.worker import DRIVER_ALIVE


class StepKeys:
    """Mixed into RunScreen, which holds the attributes below (and is a textual Screen)."""

    mode: str
    phase: str
    view: str
    quitting: bool
    gate: Any
    stop_follow: Any

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("next_round", "continue_run", "wait_after_round"):
            # hidden when following a run, and once the run has ended (nothing to step)
            return self.mode == "step" and self.phase in DRIVER_ALIVE
        if action == "next_view":
            return self.has_class("compact")  # the wide layout shows every panel
        return True

    def action_next_view(self) -> None:
        """Compact layout: show the next panel under the rounds table."""
        self.remove_class(f"view-{self.view}")
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        self.add_class(f"view-{self.view}")

    def action_next_round(self) -> None:
        if self.phase == "waiting":
            self.gate.next()
            self.set_phase("running")
            self.step_status()
        elif self.phase in ("starting", "running", "finishing"):
            self.notify("training is running; the run waits after this step"
                        if not self.gate.auto else "continuing to the end; p waits after this round")
        else:
            self.notify(f"the run is {self.phase}")

    def action_continue_run(self) -> None:
        if self.phase not in DRIVER_ALIVE:
            self.notify(f"the run is {self.phase}")
            return
        self.gate.keep_going()
        if self.phase == "waiting":
            self.set_phase("running")
        self.show_mode()
        self.step_status()
        self.log_line("continuing to the end without stops (p: wait after the round in training)")

    def action_wait_after_round(self) -> None:
        """Back to stepping: the round in training finishes, then the run waits for `n`."""
        if self.phase not in DRIVER_ALIVE:
            self.notify(f"the run is {self.phase}")
            return
        if self.gate.auto:
            self.gate.pause()
            self.log_line("the run waits after the round in training (step mode again)")
        self.show_mode()
        self.step_status()

    def action_quit_run(self) -> None:
        if self.mode == "step" and self.phase in DRIVER_ALIVE:
            if self.quitting:
                self.notify("still stopping: training stops at the next batch")
                return
            self.quitting = True
            self.gate.quit()
            self.set_status("stopping… the round in training is discarded", "waiting")
            self.log_line("stopping at the next batch; the run stays resumable")
        else:
            self.stop_follow.set()
            self.app.exit()
