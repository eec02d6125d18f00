"""What every control is: the declarative part the engine interprets.

Pure Python. A control trains a pruned round again with one thing changed,
so the comparison with the ticket isolates it; the engine
(lth_tf/search/engine.py `run_control`) reads these fields and does the rest:
round r's learning-rate rule and KD teacher, its training, its store.
"""

from __future__ import annotations

from dataclasses import dataclass

# Where a control's weights come from.
ROUND_START = "round_start"  # the weights round r started from (its rewind point or round r-1)
REINIT = "reinit"  # a fresh initialisation, from the seed plus `seed_offset`
# Which mask it trains with.
ROUND_MASK = "round_mask"  # round r's own mask
RANDOM_MASK = "random_mask"  # the criterion's random_masks: round r's counts per layer, random positions


@dataclass(frozen=True)
class Control:
    """One control kind (`prune.controls`).

    `seed_offset` keeps its random streams apart from the round's and the
    other controls': training seeds get it added; a fresh initialisation is
    built from seed + offset; a random mask draws from seed * offset + round.
    """

    name: str
    help: str
    weights: str  # ROUND_START | REINIT
    mask: str  # ROUND_MASK | RANDOM_MASK
    seed_offset: int

    def __post_init__(self) -> None:
        if self.weights not in (ROUND_START, REINIT):
            raise ValueError(f"control {self.name!r}: weights {self.weights!r} is not {ROUND_START} or {REINIT}")
        if self.mask not in (ROUND_MASK, RANDOM_MASK):
            raise ValueError(f"control {self.name!r}: mask {self.mask!r} is not {ROUND_MASK} or {RANDOM_MASK}")
