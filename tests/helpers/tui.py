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
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Footer, RichLog
from textual.widgets._footer import FooterKey

from lth_tf.core.events import make_event
from tui.app import LthApp
from tui.screens import RunScreen
from tui.state import pct
from tui.widgets import RoundsTable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE = FIXTURES / "conv4-synthetic_images-bf9edf2d92"  # a finished conv4 run, 3 rounds, 2 controls
SIZE = (120, 40)
SMALL, LARGE = (80, 24), SIZE  # compact and wide: every layout test runs at both


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


# -- what is on screen --------------------------------------------------------------------------
def shown_text(widget: Widget) -> str:
    """What the widget draws, its lines joined by spaces (wrapped words rejoin)."""
    strips = widget.render_lines(Region(0, 0, *widget.outer_size))
    return " ".join(" ".join(strip.text.split()) for strip in strips).strip()


def on_top(screen, widget: Widget) -> bool:
    """The widget is inside the screen and nothing covers its first cell."""
    region = widget.region
    if region.area == 0 or not screen.region.contains_region(region):
        return False
    return screen.get_widget_at(region.x, region.y)[0] is widget


async def footer_keys_fit(pilot, screen, expected: list[str]) -> None:
    """The footer shows these key hints, each whole, on screen and unoverlapped."""

    def shown() -> list[FooterKey]:
        keys = [k for k in screen.query_one(Footer).query(FooterKey) if k.region.area]
        return sorted(keys, key=lambda k: k.region.x)

    # The footer lays its keys out after the bindings change: wait for that.
    await wait_for(pilot, lambda: [k.key for k in shown()] == expected, what=f"footer keys {expected}")
    keys = shown()
    for left, right in pairwise(keys):
        assert left.region.right <= right.region.x, (left.key, right.key)
    for key in keys:
        assert screen.region.contains_region(key.region), key.key
        assert f"{key.key_display} {key.description}" in shown_text(key)


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


# -- a finished run written from scratch (any number of rounds, epochs, KD) --------------------
def write_finished_run(run_dir: Path, rounds: int = 20, epochs: int = 200, kd: bool = False,
                       controls: dict[str, float] | None = None) -> Path:
    """A finished Cora-like run directory (events.jsonl and summary.json, no checkpoints):
    `rounds` rounds of 20% after the dense one, `epochs` epochs each (KD losses from round 1
    with `kd`), the controls at the last round with the test accuracies in `controls`
    (default: random_reinit 0.79, random_mask 0.75), the ticket at the last round."""
    from lth_tf.storage.summary import build_summary

    controls = {"random_reinit": 0.79, "random_mask": 0.75} if controls is None else controls
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {"data": {"name": "cora"}, "model": {"name": "gcn"}, "train": {"epochs": epochs},
              "prune": {"rounds": rounds, "rate": 0.2, "rewind": "init", "controls": list(controls)},
              "distill": {"enabled": kd, "from_round": 1}, "seed": 0}
    t = 1_764_000_000.0
    lines = [make_event("run_started", time=t, run_dir=str(run_dir), config_hash="0" * 32, preset="cora-gcn",
                        rounds=rounds, resumed_from=None, model="gcn", dataset="cora", config=config)]
    metrics = []
    for r in range(rounds + 1):
        sparsity = 1 - 0.8**r
        lines.append(make_event("round_started", time=t, round=r, target_sparsity=sparsity, epochs=epochs))
        for epoch in range(1, epochs + 1):
            logs = {"loss": 2.0 / epoch, "acc": 0.8, "val_loss": 2.2 / epoch, "val_acc": 0.78}
            if kd and r >= 1:
                logs |= {"student_loss": 0.9 / epoch, "distill_loss": 0.4 / epoch, "teacher_loss": 0.47}
            lines.append(make_event("epoch_end", time=t, round=r, epoch=epoch, epochs=epochs,
                                    seconds=0.3, **logs))
        test_acc = 0.82 - 0.002 * r
        distill = {"student_loss": 0.84, "distill_loss": 0.36, "teacher_loss": 0.47} if kd and r else None
        m = {"round": r, "sparsity": sparsity, "val_acc": 0.80, "test_acc": test_acc,
             "layer_sparsity": {"gcn1": sparsity, "output": sparsity / 2}, "seconds": 60.0 + r,
             "distill": distill, "cost": {"examples": 541600, "steps": 200, "epochs": epochs,
                                          "seconds": 60.0 + r, "train_flops": 6.0e10 * (1 - sparsity / 2)},
             "inference": {"params": 23063, "nonzeros": round(23063 * (1 - sparsity)),
                           "flops": 46300 * (1 - sparsity)}}
        metrics.append(m)
        lines.append(make_event("round_finished", time=t, **m))
    last = metrics[-1]
    control_rows = [{"kind": kind, "round": rounds, "sparsity": last["sparsity"], "val_acc": acc,
                     "test_acc": acc} for kind, acc in controls.items()]
    lines += [make_event("control_finished", time=t, seconds=60.0, **c) for c in control_rows]
    ticket = {"round": rounds, "sparsity": last["sparsity"], "test_acc": last["test_acc"],
              "path": str(run_dir / "ticket")}
    lines.append(make_event("ticket_exported", time=t, **ticket))
    lines.append(make_event("run_finished", time=t, run_dir=str(run_dir), ticket=ticket))
    (run_dir / "config.toml").write_text(f"# config_hash = {'0' * 32}\nseed = 0\n")
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    summary = build_summary("0" * 32, "cora-gcn", "finished", metrics, control_rows, ticket, num_classes=7)
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir
