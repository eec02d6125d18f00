"""How `lth-tf tune` fits its measuring into what start-up left of the time budget (pure).

The measuring is paired and interleaved: in every round each candidate trains the same
number of steps (its slot), so the rounds cost `steps x (sum of the candidates' step
times)`. `plan` picks the steps from the time left: slots of `SLOT_SECONDS` for the
rule's choice while at least MIN_ROUNDS such rounds fit; shorter slots (down to
MIN_STEPS) when only they let MIN_ROUNDS fit; and when not even that fits (start-up
took the budget) MIN_ROUNDS rounds of MIN_STEPS anyway, with `fits` False so the
command says it runs over rather than judging on fewer rounds. `another_round` then
decides round by round from the measured rounds, so a round is started only when it
should end before the deadline (MAX_ROUNDS at most, MIN_ROUNDS always). `too_slow`
leaves out of the rounds a candidate far slower than the rule's choice in its timed steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_ROUNDS, MAX_ROUNDS = 3, 8
SLOT_SECONDS = 2.0  # one slot of the rule's choice, when the budget allows
# A slot of fewer steps times mostly the call and the clock rather than training.
MIN_STEPS = 2
# Kept back from the budget for ending the workers (they exit without TensorFlow's teardown).
SHUTDOWN_SECONDS = 2.0


# A candidate whose best timed step took this many times the rule's worst is not measured in
# rounds: it cannot be faster in every round, and its slots would take most of the budget
# (mixed_bfloat16 without oneDNN: 0.03x, 5 s a step of ResNet-18 w16 on a Zen 5 EPYC).
SLOW_FACTOR = 2.0


def too_slow(candidate_steps: list[float], rule_steps: list[float], factor: float = SLOW_FACTOR) -> bool:
    """Whether a candidate, timed `candidate_steps` seconds a step, is hopeless against the rule's choice."""
    return min(candidate_steps) > factor * max(rule_steps)


@dataclass(frozen=True)
class Plan:
    steps: int  # per candidate and round
    rounds: int  # the rounds predicted to fit (MIN_ROUNDS..MAX_ROUNDS)
    round_seconds: float  # predicted length of one round
    fits: bool  # MIN_ROUNDS rounds fit in the time left

    @property
    def seconds(self) -> float:
        return self.rounds * self.round_seconds


def plan(left: float, step_seconds: list[float], slot: float = SLOT_SECONDS) -> Plan:
    """Steps per slot and rounds for `left` seconds, given each live candidate's step time
    (the rule's choice first)."""
    if not step_seconds:
        raise ValueError("no candidate to plan for")
    per_step = sum(max(s, 1e-6) for s in step_seconds)  # one step of every candidate
    left = max(0.0, left - SHUTDOWN_SECONDS)
    ideal = max(MIN_STEPS, round(slot / max(step_seconds[0], 1e-6)))
    rounds = math.floor(left / (ideal * per_step))
    if rounds >= MIN_ROUNDS:
        rounds = min(rounds, MAX_ROUNDS)
        return Plan(ideal, rounds, ideal * per_step, True)
    steps = math.floor(left / (MIN_ROUNDS * per_step))
    if steps >= MIN_STEPS:
        return Plan(steps, MIN_ROUNDS, steps * per_step, True)
    return Plan(MIN_STEPS, MIN_ROUNDS, MIN_STEPS * per_step, False)


def another_round(done: int, left: float, round_seconds: list[float]) -> bool:
    """Whether to start round `done + 1` with `left` seconds to the deadline, after rounds
    that took `round_seconds`: always below MIN_ROUNDS, never at MAX_ROUNDS, else when the
    longest round so far would end before the deadline."""
    if done < MIN_ROUNDS:
        return True
    if done >= MAX_ROUNDS:
        return False
    return max(round_seconds, default=0.0) <= left - SHUTDOWN_SECONDS
