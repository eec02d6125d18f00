"""TUI helpers: a recorded run to replay, waiting on a pilot, and a fake search for step mode.

The recorded run (tests/fixtures/conv4-synthetic_images-bf9edf2d92) is replayed in
attach mode; `replay` attaches to any run directory and checks the rounds table
against its events. FakeSearch behaves like LotterySearch as far as the TUI can
tell, with no TensorFlow; `install_fake_lottery` puts it in place of
lth_tf.search.lottery (the `fake_lottery` fixture in conftest.py does that per test), and
`install_fake_ticket` lets a fake search export itself.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any, ClassVar

from textual.widgets import RichLog

from lth_tf.core.events import make_event
from tui.app import LthApp
from tui.screens import RunScreen
from tui.state import pct
from tui.widgets import RoundsTable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE = FIXTURES / "conv4-synthetic_images-bf9edf2d92"  # a finished conv4 run, 3 rounds, 2 controls
SIZE = (120, 40)


async def wait_for(pilot, condition, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def replay_done(screen: RunScreen) -> bool:
    s = screen.state
    return s.status == "finished" and s.ticket is not None and len(s.controls) == 2


def log_text(screen: RunScreen) -> str:
    return "\n".join(strip.text for strip in screen.query_one(RichLog).lines)


# -- replaying a run's events ------------------------------------------------------------------
def raw_events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def named(run_dir: Path, name: str) -> list[dict]:
    return [e for e in raw_events(run_dir) if e["event"] == name]


async def replay(run_dir: Path) -> RunScreen:
    app = LthApp(attach=run_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen) and screen.mode == "attach"
        deadline = time.monotonic() + 10
        while screen.state.status != "finished":
            assert time.monotonic() < deadline, "timed out waiting for the replay"
            await pilot.pause(0.02)
        await pilot.pause()
        table = screen.query_one(RoundsTable)
        finished = named(run_dir, "round_finished")
        assert table.row_count == len(finished) == screen.state.planned_rounds + 1
        for e in finished:
            assert str(table.get_cell(str(e["round"]), "sparsity")) == pct(e["sparsity"])
            assert str(table.get_cell(str(e["round"]), "test")) == pct(e["test_acc"])
        return screen


# -- step mode on a fake search (no TensorFlow) ------------------------------------------------
class FakeStopped(Exception):
    pass


class FakeSearch:
    """Behaves like LotterySearch as far as the TUI can tell; instances are recorded."""

    instances: ClassVar[list[FakeSearch]] = []
    fail_in_round: ClassVar[int | None] = None

    def __init__(self, exp, out="checkpoints", data_dir=None, sink=None, stop=None, platform=None):
        self.exp, self.sink, self.stop, self.platform = exp, sink, stop, platform
        self.run_dir = Path(out) / exp.run_name()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.exported: list[int] = []
        self.finished = False
        self.release = threading.Event()  # a round trains until released (or stopped)
        self.release.set()
        FakeSearch.instances.append(self)

    def emit(self, name: str, **fields: Any) -> None:
        self.sink(make_event(name, **fields))

    def rounds(self):
        planned = self.exp.prune.rounds
        self.emit("run_started", run_dir=str(self.run_dir), config_hash=self.exp.hash(),
                  preset=self.exp.preset, rounds=planned, resumed_from=None,
                  model=self.exp.model.name, dataset=self.exp.data.name, config=self.exp.to_dict())
        for r in range(planned + 1):
            sparsity = 1 - 0.5**r
            self.emit("round_started", round=r, target_sparsity=sparsity, epochs=2)
            for epoch in (1, 2):
                while not self.release.wait(0.01):
                    if self.stop.is_set():
                        raise FakeStopped()
                if self.stop.is_set():
                    raise FakeStopped()
                if r == self.fail_in_round:
                    from lth_tf.core.errors import LthError

                    raise LthError("data folder /nowhere has no cifar10-jpeg.tar.gz; pass --data-dir")
                self.emit("epoch_end", round=r, epoch=epoch, epochs=2, loss=1.0 / epoch,
                          acc=0.5, val_loss=1.1 / epoch, val_acc=0.5 + 0.1 * epoch, seconds=0.5)
            layers = {"conv1": sparsity * 0.6, "conv2": sparsity * 1.1, "output": sparsity * 0.3}
            self.emit("round_finished", round=r, sparsity=sparsity, val_acc=0.7, test_acc=0.7 - 0.01 * r,
                      layer_sparsity=layers, seconds=1.0, best_epoch=2, distill=None)
            yield types.SimpleNamespace(round=r, sparsity=sparsity)

    def finish(self, exporter=None):
        self.finished = True
        ticket = {"round": 1, "sparsity": 0.5, "test_acc": 0.69, "path": str(self.run_dir / "ticket")}
        self.emit("ticket_exported", **ticket)
        self.emit("run_finished", run_dir=str(self.run_dir), ticket=ticket)
        return {"status": "finished", "rounds": [], "controls": [], "ticket": ticket}

    def export(self, round=None, out=None):
        self.exported.append(round)
        return Path(out)


class FakePlatform:
    """What the TUI makes for a search (no TensorFlow: the fake search needs no strategy)."""

    def __init__(self, train):
        self.train = train

    from_settings = single = classmethod(lambda cls, train=None, *args, **kwargs: cls(train))


def install_fake_lottery(monkeypatch) -> type[FakeSearch]:
    """FakeSearch in place of lth_tf.search.lottery, FakePlatform in place of the platform
    the TUI makes (and install_fake_ticket), until the test ends."""
    FakeSearch.instances = []
    FakeSearch.fail_in_round = None
    module = types.ModuleType("lth_tf.search.lottery")
    module.LotterySearch = FakeSearch
    module.Stopped = FakeStopped
    monkeypatch.setitem(sys.modules, "lth_tf.search.lottery", module)
    monkeypatch.setattr("tui.worker.Platform", FakePlatform)
    install_fake_ticket(monkeypatch)
    return FakeSearch


def install_fake_ticket(monkeypatch) -> None:
    """Exports go through lth_tf.export.ticket: with this, a fake search exports itself."""
    ticket = types.ModuleType("lth_tf.export.ticket")
    ticket.export_round = lambda search, round=None, out=None, format="dense": search.export(round, out)
    ticket.TicketExporter = lambda: None
    monkeypatch.setitem(sys.modules, "lth_tf.export.ticket", ticket)
