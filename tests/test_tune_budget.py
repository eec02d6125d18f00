"""`lth-tf tune`'s time budget (lth_tf/frontends/cli/tune_budget.py, pure) and the rounds that keep it (tune_rounds.py, with stand-in workers; no TensorFlow).

The rounds are planned into what start-up left of --seconds: full slots while
MIN_ROUNDS of them fit, shorter ones when only they fit, and the minimum (said to
be over budget) when start-up took it all; each further round only if it ends in time.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

from lth_tf.frontends.cli import tune_budget as B


def test_full_slots_when_the_budget_has_room():
    # the rule's choice at 0.25 s a step: 2 s slots are 8 steps; 4 candidates cost 8 x 1.0 s a round
    p = B.plan(40.0 + B.SHUTDOWN_SECONDS, [0.25, 0.25, 0.25, 0.25])
    assert (p.steps, p.fits) == (8, True)
    assert p.rounds == 5 and p.round_seconds == pytest.approx(8.0)
    assert p.seconds <= 40.0
    assert B.plan(1000.0, [0.25] * 4).rounds == B.MAX_ROUNDS  # never more than MAX_ROUNDS


def test_slots_shrink_so_that_min_rounds_fit():
    p = B.plan(12.0 + B.SHUTDOWN_SECONDS, [0.25, 0.25, 0.25, 0.25])  # 3 full rounds would take 24 s
    assert p.fits and p.rounds == B.MIN_ROUNDS
    assert p.steps == 4 and p.seconds <= 12.0
    # the slow candidate counts: an emulated one at 10x the step time
    slow = B.plan(30.0 + B.SHUTDOWN_SECONDS, [0.1, 1.0])
    assert slow.fits and slow.seconds <= 30.0 and slow.steps == 9


def test_a_budget_start_up_used_up_is_said_not_hidden():
    p = B.plan(1.0, [0.25] * 4)
    assert not p.fits
    assert (p.rounds, p.steps) == (B.MIN_ROUNDS, B.MIN_STEPS)  # the fewest that still judge
    assert B.plan(-30.0, [0.25] * 4) == p  # already past the deadline: the same minimum
    just = B.plan(B.SHUTDOWN_SECONDS + B.MIN_ROUNDS * B.MIN_STEPS * 1.0, [0.25] * 4)
    assert just.fits and just.steps == B.MIN_STEPS


def test_the_plan_always_fits_when_it_says_so():
    for left in (3.0, 7.5, 20.0, 61.0, 300.0):
        for steps in ([0.01, 0.02], [0.3, 0.3, 2.7, 2.9], [0.07]):
            p = B.plan(left, steps)
            assert p.steps >= B.MIN_STEPS and B.MIN_ROUNDS <= p.rounds <= B.MAX_ROUNDS
            if p.fits:
                assert p.seconds <= left - B.SHUTDOWN_SECONDS + 1e-9, (left, steps, p)


def test_another_round_only_when_it_ends_before_the_deadline():
    assert B.another_round(0, -100.0, [])  # MIN_ROUNDS always, past the deadline too
    assert B.another_round(B.MIN_ROUNDS - 1, -1.0, [9.0, 9.0])
    assert not B.another_round(B.MIN_ROUNDS, 10.0, [5.0, 9.0, 7.0])  # the longest round would end late
    assert B.another_round(B.MIN_ROUNDS, 11.0 + B.SHUTDOWN_SECONDS, [5.0, 9.0, 7.0])
    assert not B.another_round(B.MAX_ROUNDS, 1e9, [1.0] * B.MAX_ROUNDS)


def test_no_candidate_is_an_error():
    with pytest.raises(ValueError):
        B.plan(60.0, [])


# -- the coordinator with stand-in workers (no processes, no TensorFlow) ---------------------
class FakeWorker:
    """Answers like tune_worker at `step` seconds a step; `ready` replaces its ready line."""

    made: ClassVar[list[FakeWorker]] = []

    def __init__(self, exp, cand, data_dir, log_dir, i, step=0.01, ready=None, slow=None, slow_ones=(3,),
                 fail_at=None):
        step = slow if slow is not None and i in slow_ones else step  # these candidates, when `slow`
        self.i, self.step, self.asked, self.quits, self.quit_after = i, step, [], 0, None
        self.fail_at = fail_at if i == 0 else None  # the rule's worker dies at this ask
        self.ready = ready or {"ready": True, "step_seconds": step, "examples_per_step": 128,
                               "phases": {"tensorflow": [0.0, 4.0], "data": [0.0, 4.5], "model": [0.0, 6.0],
                                          "trace": [0.0, 9.0], "step": [0.0, 9.25]}}
        self.proc = type("P", (), {"kill": lambda _: None})()
        FakeWorker.made.append(self)

    def reply(self, timeout):
        return self.ready

    def ask(self, steps, timeout):
        self.asked.append(steps)
        if self.fail_at is not None and len(self.asked) >= self.fail_at:
            return {"error": "the process ended (exit -9)"}
        return {"seconds": steps * self.step, "cpu_seconds": steps * self.step * 1.9, "examples": steps * 128}

    def quit(self):
        if self.quit_after is None:  # how many slots every worker had been asked for by then
            self.quit_after = sum(len(w.asked) for w in FakeWorker.made)
        self.quits += 1

    def close(self):
        self.quits += 1


def run_measure(monkeypatch, seconds, **worker):
    from lth_tf.core import config as C
    from lth_tf.frontends.cli import tune_rounds

    FakeWorker.made = []
    monkeypatch.setattr(tune_rounds, "_Worker", lambda *a: FakeWorker(*a, **worker))
    lines: list[str] = []
    cands = [{"precision": p, "jit_compile": False, "onednn": o}
             for p in ("mixed_bfloat16", "float32") for o in (True, False)]
    result = tune_rounds.measure(C.resolve(preset="smoke"), cands, None, seconds, echo=lines.append)
    return result, lines


def test_measure_fills_the_budget_with_rounds_and_ends_every_worker(monkeypatch):
    result, lines = run_measure(monkeypatch, 30.0)
    assert "CPU seconds per candidate: tensorflow 4.0, data 0.5, model 1.5, trace 3.0, step 0.2" in lines[0]
    assert "measuring 3 rounds of 200 steps" in lines[1]  # 2 s slots; 3 x 8 s fit in 30 s
    # the stand-ins answer at once, so the rounds end long before the deadline: MAX_ROUNDS
    assert result["rounds"] == B.MAX_ROUNDS and result["steps"] == 200
    assert all(len(s) == B.MAX_ROUNDS for s in result["speeds"])
    for w in FakeWorker.made:
        assert w.asked == [1] + [200] * B.MAX_ROUNDS  # one step to time, then every round's slot
        assert w.quits >= 1


def test_measure_says_when_start_up_left_no_room(monkeypatch):
    result, lines = run_measure(monkeypatch, 1.0, step=0.5)
    assert "start-up took" in lines[1] and "too much for 3 paired rounds" in lines[1], lines
    assert "--seconds" in lines[1]
    assert result["rounds"] == B.MIN_ROUNDS and result["steps"] == B.MIN_STEPS


def test_measure_says_when_start_up_outlasts_the_budget(monkeypatch):
    from lth_tf.frontends.cli import tune_rounds

    answers = iter([{"error": "no answer in 1 s", "timeout": True}])

    def late_reply(self, timeout):
        return next(answers, self.ready)

    monkeypatch.setattr(FakeWorker, "reply", late_reply)
    result, lines = run_measure(monkeypatch, 1.0)
    assert lines[0].startswith("lth-tf tune: start-up has taken the whole 1 s budget"), lines
    assert "4 of 4 candidates ready" in lines[1]
    assert not result["errors"] and tune_rounds.READY_TIMEOUT > 1


def test_a_candidate_far_slower_than_the_rule_is_left_out_of_the_rounds():
    assert B.too_slow([4.9, 5.0], [0.54, 0.15])  # measured: bfloat16 without oneDNN, ResNet-18 w16
    assert not B.too_slow([1.8, 0.55], [0.54, 0.15])  # float32 without oneDNN: slower, still measured
    assert not B.too_slow([0.5, 2.0], [0.4, 0.45])  # one slow step (a hiccup) is not enough


def test_measure_drops_the_hopeless_candidate_and_says_why(monkeypatch):
    from lth_tf.frontends.cli import tune

    result, _ = run_measure(monkeypatch, 30.0, slow=0.05)  # 5x the rule's 0.01 s
    assert set(result["dropped"]) == {3} and "0.20x" in result["dropped"][3]
    assert FakeWorker.made[3].asked == [1]  # no slots for it
    assert FakeWorker.made[3].quit_after == 4  # told to quit after the 4 timing steps, before any round
    assert result["speeds"][3] == [None] * result["rounds"]
    stats = tune.paired(result["speeds"])
    assert stats[3]["rounds"] == 0 and stats[1]["rounds"] == result["rounds"]
    table = tune.format_table([{"precision": "float32", "onednn": o, "jit_compile": False} for o in (1, 1, 0, 0)],
                              stats, "images", 0, {}, result["cores"], result["dropped"])
    assert "not measured in rounds" in table[4]


def test_no_rounds_when_every_other_candidate_is_dropped(monkeypatch):
    result, _ = run_measure(monkeypatch, 30.0, slow=0.05, slow_ones=(1, 2, 3))
    assert set(result["dropped"]) == {1, 2, 3} and result["rounds"] == 0  # nothing to compare with
    assert [w.asked for w in FakeWorker.made] == [[1]] * 4


def test_rounds_stop_when_the_rules_worker_dies(monkeypatch):
    result, _ = run_measure(monkeypatch, 30.0, fail_at=3)  # the probe, one round, then it dies
    assert 0 in result["errors"] and result["rounds"] == 2 < B.MAX_ROUNDS
    assert all(len(w.asked) <= 3 for w in FakeWorker.made)
