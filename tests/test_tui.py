"""The TUI without TensorFlow: attach/replay, follow, start screen, step mode on a fake search.

Each test drives the real App with `app.run_test()`; async bodies run under
`asyncio.run` so no pytest async plugin is needed.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.tui import FIXTURE, SIZE, log_text, replay_done, wait_for

from lth_tf.core import config as C
from lth_tf.core import events as E
from lth_tf.core import schedule
from lth_tf.core.events import make_event, read_events
from lth_tf.search.plan import Plan
from tui import messages as m
from tui.app import LthApp, main
from tui.relay import EventRelay
from tui.screens import RunScreen, StartScreen
from tui.state import RunState, duration, pct, points
from tui.widgets import LayerBars, RoundsTable
from tui.widgets.acc_chart import ChartData, draw
from tui.worker import StepGate, drive


def cell(table: RoundsTable, r: int, column: str) -> str:
    return str(table.get_cell(str(r), column))


# -- attach: replay a recorded run ------------------------------------------------------


def test_attach_replays_recorded_run_into_rounds_table():
    summary = json.loads((FIXTURE / "summary.json").read_text())
    expected = summary["rounds"]

    async def body():
        app = LthApp(attach=FIXTURE)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            assert isinstance(screen, RunScreen) and screen.mode == "attach"
            await wait_for(pilot, lambda: replay_done(screen), what="the replay")
            await pilot.pause()
            table = screen.query_one(RoundsTable)
            assert table.row_count == len(expected) == 4
            for row in expected:
                r = row["round"]
                assert cell(table, r, "sparsity") == pct(row["sparsity"])
                assert cell(table, r, "val") == pct(row["val_acc"])
                assert cell(table, r, "test") == pct(row["test_acc"])
            assert cell(table, 2, "round") == "2 ★"  # the winning ticket
            assert cell(table, 3, "delta") == points(expected[3]["test_acc"] - expected[0]["test_acc"])
            assert cell(table, 1, "kd") == ".78/.32/.47"
            # The cursor follows the newest round; the layer panel shows it.
            bars = screen.query_one(LayerBars)
            assert bars.fractions == expected[3]["layer_sparsity"]
            # Selecting another row shows that round's layers.
            await pilot.press("up", "up")
            await pilot.pause()
            assert table.round_at_cursor() == 1
            assert bars.fractions == expected[1]["layer_sparsity"]
            assert "53.1%" in str(bars.render())  # dense1 in round 1
            assert screen.query_one("#layers").border_title.startswith("Layer sparsity · round 1")
            # Stepping keys make no sense when following a run.
            assert screen.check_action("next_round", ()) is False
            assert screen.state.controls[("random_reinit", 3)].test_acc == pytest.approx(0.6992)
            await pilot.press("q")
        assert app.return_code in (0, None)

    asyncio.run(body())


def append_lines(path: Path, lines: list[str]) -> None:
    with open(path, "a") as f:
        f.write("".join(lines))


def test_attach_follows_a_growing_event_log(tmp_path):
    run_dir = tmp_path / "conv4-synthetic_images-bf9edf2d92"
    run_dir.mkdir()
    shutil.copy(FIXTURE / "config.toml", run_dir)
    lines = (FIXTURE / "events.jsonl").read_text().splitlines(keepends=True)
    first = [i for i, line in enumerate(lines) if '"round_finished"' in line][1] + 1
    (run_dir / "events.jsonl").write_text("".join(lines[:first]))

    async def body():
        app = LthApp(attach=run_dir)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            table = screen.query_one(RoundsTable)
            await wait_for(pilot, lambda: table.row_count == 2, what="two rounds")
            assert screen.state.status == "running"
            append_lines(run_dir / "events.jsonl", lines[first:])
            await wait_for(pilot, lambda: screen.state.status == "finished", what="run_finished")
            await wait_for(pilot, lambda: table.row_count == 4, what="four rounds")
            assert screen.state.ticket["round"] == 2
            await pilot.press("q")

    asyncio.run(body())


def test_attach_export_without_checkpoints_shows_an_error_not_a_traceback():
    pytest.importorskip("lth_tf.search.lottery", reason="lottery search not importable")

    async def body():
        app = LthApp(attach=FIXTURE)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: replay_done(screen), what="the replay")
            await pilot.press("e")
            await wait_for(pilot, lambda: "round 3 is not stored" in log_text(screen), timeout=30,
                           what="the export error")
            assert "Traceback" not in log_text(screen)
            await pilot.press("q")

    asyncio.run(body())


# -- start screen --------------------------------------------------------------------------


def test_start_screen_fills_preset_and_rejects_bad_settings(tmp_path):
    async def body():
        app = LthApp(out=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            assert isinstance(screen, StartScreen)
            assert screen.preset == "smoke"
            assert screen.query_one("#set-rounds").value == "2"
            assert screen.query_one("#set-rate").value == "0.5"
            screen.query_one("#set-rate").value = "1.5"
            await pilot.pause()
            error = str(screen.query_one("#start-error").render())
            assert "prune.rate 1.5 is outside (0, 1)" in error
            screen.action_start()
            await pilot.pause()
            assert isinstance(app.screen, StartScreen)  # no run with bad settings
            screen.query_one("#set-rate").value = "0.3"
            await pilot.pause()
            assert str(screen.query_one("#start-error").render()) == ""
            assert screen.experiment().prune.rate == 0.3
            # Open a run directory: a wrong path is explained, a right one attaches.
            screen.query_one("#run-path").value = str(tmp_path / "nope")
            screen.action_open_run()
            await pilot.pause()
            assert "run directory not found" in str(screen.query_one("#start-error").render())
            screen.query_one("#run-path").value = str(FIXTURE)
            screen.action_open_run()
            await pilot.pause()
            assert isinstance(app.screen, RunScreen) and app.screen.mode == "attach"
            await wait_for(pilot, lambda: replay_done(app.screen), what="the replay")
            await pilot.press("q")

    asyncio.run(body())


def test_bad_preset_on_command_line_opens_the_form_with_the_error(tmp_path):
    async def body():
        app = LthApp(preset="smoke", overrides=["prune.rewind=sometimes"], out=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, StartScreen)
            assert "prune.rewind 'sometimes' is unknown" in str(app.screen.query_one("#start-error").render())

    asyncio.run(body())


def test_main_reports_user_errors_with_exit_code_2(capsys, tmp_path):
    assert main(["--preset", "no-such-preset"]) == 2
    assert "No such preset: 'no-such-preset'" in capsys.readouterr().err
    assert main(["--attach", str(tmp_path / "missing")]) == 2
    assert "run directory not found" in capsys.readouterr().err
    assert main(["--preset", "smoke", "--set", "prune.rate=2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lth-tui: prune.rate 2.0 is outside") and "Traceback" not in err
    assert main(["--preset", "smoke", "--data-dir", str(tmp_path / "no-data")]) == 2
    assert "is not a folder" in capsys.readouterr().err


# -- step mode on a fake search (fast: no TensorFlow; the fake_lottery fixture) ------------
def test_step_mode_waits_after_each_round_and_steps_on_n(fake_lottery, tmp_path):
    async def body():
        app = LthApp(preset="smoke", out=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            assert isinstance(screen, RunScreen) and screen.mode == "step"
            table = screen.query_one(RoundsTable)
            await wait_for(pilot, lambda: screen.phase == "waiting", what="round 0")
            assert table.row_count == 1 and screen.next_step == "round 1"
            assert "waiting" in str(screen.query_one("#status").render())
            await pilot.pause(0.1)
            assert table.row_count == 1  # it really waits
            await pilot.press("n")
            await wait_for(pilot, lambda: screen.phase == "waiting" and 1 in screen.state.rounds
                           and screen.state.rounds[1].finished, what="round 1")
            assert table.row_count == 2
            assert screen.query_one(LayerBars).fractions["conv2"] == pytest.approx(0.55)
            # Export the selected round (1) while waiting: runs in the driver's thread.
            await pilot.press("e")
            search = fake_lottery.instances[0]
            await wait_for(pilot, lambda: search.exported == [1], what="the export")
            # Continue: no more waits; finish() runs and the ticket shows.
            await pilot.press("c")
            await wait_for(pilot, lambda: screen.phase == "finished", what="the end")
            assert search.finished and table.row_count == 3
            assert cell(table, 1, "round") == "1 ★"
            assert screen.check_action("next_round", ()) is False  # hidden now: nothing to step
            await pilot.press("q")

    asyncio.run(body())


def test_quit_while_training_stops_the_round_and_exits(fake_lottery, tmp_path):
    async def body():
        app = LthApp(preset="smoke", out=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.phase == "waiting", what="round 0")
            search = fake_lottery.instances[0]
            search.release.clear()  # round 1 will hang in its first epoch
            await pilot.press("n")
            await wait_for(pilot, lambda: 1 in screen.state.rounds, what="round 1 to start")
            assert screen.query_one(RoundsTable).row_count == 2  # the running row
            await pilot.press("q")
            await wait_for(pilot, lambda: not app.is_running, what="the exit")
        assert search.stop.is_set() and not search.finished
        assert screen.phase == "stopped"
        assert 1 not in screen.state.rounds  # the unfinished round was dropped

    asyncio.run(body())


def test_errors_from_the_search_are_shown_not_raised(fake_lottery, tmp_path):
    fake_lottery.fail_in_round = 0

    async def body():
        app = LthApp(preset="smoke", out=tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.phase == "failed", what="the failure")
            status = str(screen.query_one("#status").render())
            assert "no cifar10-jpeg.tar.gz" in status
            await pilot.press("q")

    asyncio.run(body())


# -- pure parts -----------------------------------------------------------------------------


def test_gate_exports_queued_during_a_round_run_before_waiting():
    gate, posted, exported = StepGate(), [], []
    gate.export(3)
    gate.next()  # a stale `n` from while the round trained is ignored
    t = threading.Thread(
        target=lambda: posted.append(gate.between_rounds("round 4", posted.append, exported.append))
    )
    t.start()
    deadline = time.monotonic() + 5
    while not any(isinstance(p, m.Waiting) for p in posted) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert exported == [3]
    assert isinstance(posted[-1], m.Waiting) and posted[-1].next_step == "round 4"
    gate.next()
    t.join(5)
    assert posted[-1] is True
    gate.quit()
    assert gate.between_rounds("round 5", posted.append, exported.append) is False


def test_relay_epoch_messages_carry_the_whole_round_history():
    relay = EventRelay(lambda _msg: None)
    relay.translate(make_event("round_started", round=1, target_sparsity=0.5, epochs=3))
    first = relay.translate(make_event("epoch_end", round=1, epoch=1, epochs=3, loss=2.0,
                                       student_loss=1.5, distill_loss=0.4, teacher_loss=0.3, seconds=1.0))
    second = relay.translate(make_event("epoch_end", round=1, epoch=2, epochs=3, loss=1.0,
                                        student_loss=1.2, distill_loss=0.3, teacher_loss=0.3, seconds=3.0))
    assert second.history["distill_loss"] == [0.4, 0.3] and first.history["distill_loss"] == [0.4]
    assert first.can_replace(second)  # a newer epoch of the same round supersedes it
    assert not first.can_replace(m.LthEvent(E.EpochEnd(round=2, epoch=1, epochs=3)))
    state = RunState()
    info = state.epoch(1, second.record.epoch, second.record.epochs, second.history, second.epoch_seconds)
    assert info.eta_seconds() == pytest.approx(2.0)  # mean 2 s x 1 epoch left


def test_state_from_recorded_events_matches_summary():
    relay_msgs: list[Any] = []
    relay = EventRelay(relay_msgs.append)
    events = read_events(FIXTURE / "events.jsonl")
    for event in events:
        relay(event)
    last_epoch_2 = [e for e in events if e["event"] == "epoch_end" and e["round"] == 2][-1]
    state = RunState()
    for msg in relay_msgs:
        if isinstance(msg.record, E.RoundFinished):
            e = msg.record
            state.round_finished(e.round, sparsity=e.sparsity, test_acc=e.test_acc,
                                 val_acc=e.val_acc, history=msg.history)
    assert [i.round for i in state.finished_rounds()] == [0, 1, 2, 3]
    assert state.rounds[2].history["student_loss"][-1] == last_epoch_2["student_loss"]
    assert len(state.rounds[2].history["distill_loss"]) == last_epoch_2["epochs"]
    assert state.delta_to_dense(state.rounds[3]) == pytest.approx(0.7891 - 0.8047)


def test_chart_draws_points_dense_line_and_controls_in_any_size():
    state = RunState(rate=0.5, planned_rounds=3, prune_rounds=3)
    for r, (s, a) in enumerate([(0.0, 0.80), (0.5, 0.82), (0.75, 0.81), (0.875, 0.79)]):
        state.round_finished(r, sparsity=s, test_acc=a)
    state.control("random_reinit", 3, 0.875, 0.70)
    state.ticket = {"round": 2}
    data = ChartData.from_state(state)
    text = draw(data, 68, 12).plain
    lines = text.split("\n")
    assert len(lines) == 12 and all(len(line) <= 68 for line in lines)
    plot = "\n".join(lines[:-1])  # the last line is the legend
    assert plot.count("●") == 3 and "★" in plot and "×" in plot and "┄" in plot
    assert "88%" in lines[-2] and "dense 80.0" in lines[-1]
    for w, h in [(5, 2), (20, 4), (200, 60)]:
        draw(data, w, h)  # never raises
    assert draw(ChartData(), 40, 10).plain == "no finished round yet"


def test_chart_axis_follows_the_rate_schedule():
    """Under cubic:S the run ends at S, not at 1 - (1 - prune.rate) ** rounds: the axis must reach S."""
    exp = C.resolve("smoke", overrides=["prune.rounds=4", "prune.rate_schedule=cubic:0.9"])
    plan = Plan.of(exp)
    state = RunState()
    state.start("r", "smoke", exp.planned_rounds, "tiny_cnn", "synthetic_images", exp.to_dict())
    final = ChartData.from_state(state).final_sparsity
    assert final == pytest.approx(plan.target_sparsity(exp.planned_rounds)) == pytest.approx(0.9)
    assert final != pytest.approx(schedule.expected_sparsity(exp.prune.rate, exp.prune.rounds))
    # the last round's point lands on the axis' right end (a constant-rate axis would end at 93.75%)
    for r in (0, exp.planned_rounds):
        state.round_finished(r, sparsity=plan.target_sparsity(r), test_acc=0.8 - 0.1 * r)
    width = 68
    plot = draw(ChartData.from_state(state), width, 12).plain.split("\n")[:-3]
    assert max(line.rfind("●") for line in plot) == width - 2  # label, axis, plot_w cells


def test_formatting_helpers():
    assert pct(0.8123) == "81.2%" and pct(None) == "–"
    assert points(0.004) == "+0.4" and points(-0.012) == "−1.2" and points(0.0) == "±0.0"
    assert duration(3.04) == "3.0s" and duration(75) == "1:15" and duration(3725) == "1:02:05"


def test_drive_reports_a_bad_data_dir_as_a_failed_run(fake_lottery, tmp_path):
    fake_lottery.fail_in_round = 0
    posted: list[Any] = []
    outcome = drive(C.resolve("smoke"), tmp_path, None, StepGate(), posted.append)
    assert outcome == "failed"
    assert any(isinstance(p, m.LthEvent) and isinstance(p.record, E.RunFailed)
               and "pass --data-dir" in p.record.error for p in posted)
