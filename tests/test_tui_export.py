"""`e` in the TUI: feedback when an export starts, ends or fails, and one
TensorFlow job at a time (a second `e` is refused, never a second thread).
No TensorFlow: exports are slow counting stubs, the search is tests/helpers/tui.py's fake.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.tui import FIXTURE, FakeSearch, install_fake_ticket, log_text, replay_done, wait_for

from lth_tf.core.errors import LthError
from lth_tf.storage import rundir
from lth_tf.storage.store import RunStore
from tui import messages as m
from tui import worker
from tui.app import LthApp
from tui.screens import RunScreen

SIZE = (80, 24)  # the compact layout: the status line must carry the feedback


@pytest.fixture(autouse=True)
def fake_ticket(monkeypatch):
    """The fake searches below export themselves (see install_fake_ticket)."""
    install_fake_ticket(monkeypatch)


class SlowExports:
    """Counts exports, the threads they run in and how many overlap."""

    def __init__(self, seconds: float = 0.6, error: Exception | None = None,
                 hold: threading.Event | None = None):
        self.seconds, self.error = seconds, error
        self.hold = hold  # if given, each export runs until it is set (not `seconds`)
        self.rounds: list[int] = []
        self.threads: set[int] = set()
        self.running = self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, round: int, out: Any) -> Path:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.rounds.append(round)
            self.threads.add(threading.get_ident())
        if self.hold is not None:
            self.hold.wait(30)
        else:
            time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        if self.error is not None:
            raise self.error
        return Path(out)


def notes_of(app) -> list[str]:
    """Every notification's text, as the app shows them."""
    shown: list[str] = []
    notify = app.notify

    def record(message, *args, **kwargs):
        shown.append(f"{kwargs.get('title') or ''}: {message}")
        return notify(message, *args, **kwargs)

    app.notify = record
    return shown


def status_text(screen: RunScreen) -> str:
    return str(screen.query_one("#status").render())


def test_attach_export_twice_runs_one_export_and_reports_the_path(monkeypatch):
    finish_export = threading.Event()
    exports = SlowExports(hold=finish_export)
    search = type("Search", (), {"run_dir": FIXTURE, "export": lambda self, round, out: exports(round, out)})()
    opened: list[int] = []
    monkeypatch.setattr("tui.screens.exporting.open_search", lambda run_dir: opened.append(1) or search)

    async def body():
        app = LthApp(attach=FIXTURE)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            notes = notes_of(app)
            await wait_for(pilot, lambda: replay_done(screen), what="the replay")
            await pilot.press("e", "e")
            assert "exporting round 3" in status_text(screen)
            await pilot.press("e")
            finish_export.set()
            await wait_for(pilot, lambda: screen.export_round is None, what="the export")
            await pilot.pause(0.3)  # a second job, had one started, would show by now
            path = str(rundir.export_dir(FIXTURE, 3))
            assert exports.rounds == [3] and exports.most_at_once == 1 and opened == [1]
            assert sum("an export is already running (round 3)" in n for n in notes) == 2
            assert not any("exported" in n for n in notes)  # the status says it: no toast over the panels
            assert f"round 3 exported → {path}" in log_text(screen).replace("\n", "")  # unwrapped
            assert status_text(screen) == f"✓ done · {screen.ticket_text()} · round 3 exported → {path}"
            # Done: the next `e` exports again.
            await pilot.press("e")
            await wait_for(pilot, lambda: len(exports.rounds) == 2 and screen.export_round is None,
                           what="the second export")
            await pilot.press("q")

    asyncio.run(body())


def test_failed_export_is_shown_and_frees_the_key(monkeypatch):
    exports = SlowExports(0.05, error=LthError("round 3 is not stored in RUN; run it first"))
    search = type("Search", (), {"run_dir": FIXTURE, "export": lambda self, round, out: exports(round, out)})()
    monkeypatch.setattr("tui.screens.exporting.open_search", lambda run_dir: search)

    async def body():
        app = LthApp(attach=FIXTURE)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            notes = notes_of(app)
            await wait_for(pilot, lambda: replay_done(screen), what="the replay")
            await pilot.press("e")
            await wait_for(pilot, lambda: screen.export_round is None, what="the failure")
            assert any(n.startswith("Export of round 3 failed") and "round 3 is not stored" in n
                       for n in notes)
            assert "export of round 3 failed: round 3 is not stored" in log_text(screen).replace("\n", "")
            assert "Traceback" not in log_text(screen)
            await pilot.press("q")

    asyncio.run(body())


def test_step_mode_exports_run_in_the_driver_thread_one_at_a_time(fake_lottery, tmp_path, monkeypatch):
    finish_export = threading.Event()
    exports = SlowExports(hold=finish_export)
    trainer_threads: set[int] = set()
    rounds = FakeSearch.rounds

    def recording_rounds(self):
        trainer_threads.add(threading.get_ident())
        yield from rounds(self)

    monkeypatch.setattr(FakeSearch, "rounds", recording_rounds)
    monkeypatch.setattr(FakeSearch, "export", lambda self, round=None, out=None: exports(round, out))

    async def body():
        app = LthApp(preset="smoke", out=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            notes = notes_of(app)
            await wait_for(pilot, lambda: screen.phase == "waiting", what="round 0")
            search = fake_lottery.instances[0]
            search.release.clear()  # round 1 hangs in its first epoch
            await pilot.press("n")
            await wait_for(pilot, lambda: 1 in screen.state.rounds, what="round 1 to start")
            await pilot.press("up")  # round 0, finished
            await pilot.press("e", "e")
            assert any("export of round 0 is already queued" in n for n in notes)
            assert exports.rounds == []  # queued until the round ends
            search.release.set()
            await wait_for(pilot, lambda: exports.rounds == [0], what="the queued export")
            await wait_for(pilot, lambda: "exporting round 0" in status_text(screen),
                           what="the status while it runs")
            await pilot.press("e")
            assert any("an export is already running (round 0)" in n for n in notes)
            finish_export.set()
            await wait_for(pilot, lambda: screen.export_round is None, what="the export to end")
            assert exports.rounds == [0] and exports.most_at_once == 1
            assert exports.threads == trainer_threads  # TensorFlow in one thread only
            assert screen.phase == "waiting" and "waiting" in status_text(screen)
            await pilot.press("q")

    asyncio.run(body())


def test_export_after_the_run_waits_for_no_driver_and_is_refused_while_busy(fake_lottery, tmp_path,
                                                                          monkeypatch):
    finish_export = threading.Event()
    exports = SlowExports(hold=finish_export)
    monkeypatch.setattr(FakeSearch, "export", lambda self, round=None, out=None: exports(round, out))

    async def body():
        app = LthApp(preset="smoke", out=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.phase == "waiting", what="round 0")
            await pilot.press("c")
            await wait_for(pilot, lambda: screen.phase == "finished", what="the end")
            await pilot.press("e", "e", "e")
            await pilot.pause(0.3)  # a second thread, had one started, would be in the stub by now
            finish_export.set()
            # Only what the stub saw: no screen bookkeeping in the condition.
            await wait_for(pilot, lambda: exports.rounds and not exports.running, what="the export")
            await pilot.pause(0.3)
            assert exports.rounds == [2] and exports.most_at_once == 1
            await pilot.press("q")

    asyncio.run(body())


def test_export_job_refuses_while_another_tensorflow_job_runs():
    posted: list[Any] = []
    held, release = threading.Event(), threading.Event()

    def trainer():
        with worker.TF_JOBS:
            held.set()
            release.wait(5)

    t = threading.Thread(target=trainer)
    t.start()
    held.wait(5)
    called: list[int] = []
    worker.export_job(lambda: called.append(1), 2, posted.append)
    release.set()
    t.join(5)
    assert called == [] and len(posted) == 1
    assert isinstance(posted[0], m.ExportFailed) and "a TensorFlow job is running" in posted[0].error


def test_run_lock_held_elsewhere_is_a_failed_run_not_a_traceback(fake_lottery, tmp_path, monkeypatch):
    rounds = FakeSearch.rounds

    def locked_rounds(self):  # as LotterySearch.rounds: the run's lock around the loop
        with RunStore(self.run_dir).lock():
            yield from rounds(self)

    monkeypatch.setattr(FakeSearch, "rounds", locked_rounds)
    holding, release = threading.Event(), threading.Event()

    def other_job(run_dir: Path):
        with RunStore(run_dir).lock():
            holding.set()
            release.wait(30)

    async def body():
        app = LthApp(preset="smoke", out=tmp_path)
        run_dir = tmp_path / app_exp_name()
        run_dir.mkdir(parents=True)
        t = threading.Thread(target=other_job, args=(run_dir,))
        t.start()
        holding.wait(5)
        try:
            async with app.run_test(size=SIZE) as pilot:
                screen = app.screen
                await wait_for(pilot, lambda: screen.phase == "failed", what="the failure")
                assert "in use by another job of this process" in screen.state.error
                assert "in use by another job" in status_text(screen)
                assert "Traceback" not in log_text(screen)
                await pilot.press("q")
        finally:
            release.set()
            t.join(5)

    asyncio.run(body())


def app_exp_name() -> str:
    from lth_tf.core import config as C

    return C.resolve("smoke").run_name()


def test_export_queued_when_the_driver_stops_runs_after_it(fake_lottery, tmp_path, monkeypatch):
    """An export queued in the driver that then stops is run by a worker, not lost."""
    exports = SlowExports(0.05)
    monkeypatch.setattr(FakeSearch, "export", lambda self, round=None, out=None: exports(round, out))

    async def body():
        app = LthApp(preset="smoke", out=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.phase == "waiting", what="round 0")
            search = fake_lottery.instances[0]
            search.release.clear()
            await pilot.press("n")
            await wait_for(pilot, lambda: 1 in screen.state.rounds, what="round 1 to start")
            await pilot.press("up", "e")
            assert screen.export_round == 0 and not screen.export_running
            screen.gate.stop.set()  # the round stops (as on an error), the queued export stays
            await wait_for(pilot, lambda: screen.phase == "stopped", what="the stop")
            await wait_for(pilot, lambda: exports.rounds == [0] and screen.export_round is None,
                           what="the export after the stop")
            await pilot.press("q")

    asyncio.run(body())
