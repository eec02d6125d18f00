"""The pruning schedule: how many rounds, and what sparsity each reaches.

Where the rounds rewind to is lth_tf/core/rewind/.

The one home of these facts for the engine, the CLI, the TUI and the presets'
descriptions. Pure Python (no numpy, no TensorFlow), so the TUI and the CLI's
early checks use it before TensorFlow loads.
"""

from __future__ import annotations

import itertools
import math

CONSTANT = "constant"  # prune.rate_schedule: every round prunes prune.rate of the remaining weights
CUBIC = "cubic:"  # "cubic:S": reach sparsity S in prune.rounds rounds, large steps first


def expected_sparsity(rate: float, rounds: int) -> float:
    """Sparsity after `rounds` rounds that each prune `rate` of the remaining weights."""
    return 1.0 - (1.0 - rate) ** rounds


def planned_rounds(rounds: int, one_shot: bool) -> int:
    """Pruning rounds after the dense round 0 (one-shot prunes in one)."""
    return 1 if one_shot else rounds


def final_sparsity(rate: float, rounds: int, rate_schedule: str = CONSTANT) -> float:
    """The sparsity the run ends at, iterative or one-shot (`rounds` is prune.rounds)."""
    if rate_schedule == CONSTANT:
        return expected_sparsity(rate, rounds)
    return _compound(round_rates(rate, rounds, rate_schedule))


def target_sparsity(
    rate: float, rounds: int, one_shot: bool, r: int, rate_schedule: str = CONSTANT
) -> float:
    """The planned sparsity after round r (one-shot reaches the final one at once)."""
    if r == 0:
        return 0.0
    if rate_schedule == CONSTANT or one_shot:
        return expected_sparsity(rate, rounds if one_shot else r)
    return _compound(round_rates(rate, rounds, rate_schedule)[:r])


# -- per-round rates (prune.rate_schedule) ------------------------------------------------
def round_rates(rate: float, rounds: int, rate_schedule: str = CONSTANT) -> tuple[float, ...]:
    """The fraction of the remaining weights each round 1..rounds prunes.

    `rate_schedule` is prune.rate_schedule: "constant" (`rate` every round),
    "cubic:S" (Zhu & Gupta 2017, "To prune, or not to prune": round k of R reaches
    sparsity S * (1 - (1 - k/R)**3), so early rounds, where most weights are
    redundant, prune most and the last rounds little), or a comma list of one rate
    per round ("0.6,0.5,0.4"). Raises ValueError naming what is wrong.
    """
    text = rate_schedule.strip()
    if text == CONSTANT:
        return (rate,) * rounds
    if text.startswith(CUBIC):
        final = _number(text[len(CUBIC) :], text)
        if not 0.0 < final < 1.0:
            raise ValueError(f"{text!r}: the final sparsity {final} is outside (0, 1)")
        if rounds < 1:
            raise ValueError(f"{text!r} needs prune.rounds of 1 or more (it has {rounds})")
        reached = [final * (1.0 - (1.0 - k / rounds) ** 3) for k in range(rounds + 1)]
        return tuple(1.0 - (1.0 - b) / (1.0 - a) for a, b in itertools.pairwise(reached))
    rates = tuple(_number(x, text) for x in text.split(","))
    if any(not 0.0 < x < 1.0 for x in rates):
        raise ValueError(f"{text!r} holds a rate outside (0, 1)")
    if len(rates) != rounds:
        raise ValueError(f"{text!r} lists {len(rates)} rates for prune.rounds = {rounds}")
    return rates


def _number(text: str, schedule: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise ValueError(f"{schedule!r} holds {text!r}, not a number") from None
    if not math.isfinite(x):
        raise ValueError(f"{schedule!r} holds {text!r}, not a finite number")
    return x


def _compound(rates: tuple[float, ...]) -> float:
    kept = 1.0
    for x in rates:
        kept *= 1.0 - x
    return 1.0 - kept
