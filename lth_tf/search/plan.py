"""The training plan of one search: its settings and the schedule facts the engine asks of them.

Pure Python (config and schedule only, no TensorFlow). `Plan` is what the round
engine (`lth_tf/search/engine.py`) and the pruning step (`lth_tf/search/prune_step.py`) read.
"""

from __future__ import annotations

from dataclasses import dataclass

from lth_tf.core import config as C
from lth_tf.core import criteria
from lth_tf.core.rewind import RewindMode
from lth_tf.core.rewind import parse as parse_rewind
from lth_tf.core.schedule import planned_rounds, round_rates, target_sparsity


@dataclass(frozen=True)
class Plan:
    """How every round and control of one search trains, prunes and distils."""

    train: C.Train
    prune: C.Prune
    distill: C.Distill
    seed: int = 0

    @classmethod
    def of(cls, exp: C.Experiment) -> Plan:
        return cls(exp.train, exp.prune, exp.distill, exp.seed)

    @property
    def rewind(self) -> RewindMode:
        """The rewind mode (lth_tf/core/rewind/): where pruned rounds start, their learning rate."""
        return parse_rewind(self.prune.rewind)

    @property
    def criterion(self) -> criteria.Criterion:
        """The pruning criterion prune.structure names (lth_tf/core/criteria/)."""
        return criteria.get(self.prune.structure)

    @property
    def channels(self) -> bool:
        """Whether the criterion removes whole channels (then rounds report channel_sparsity)."""
        return self.criterion.channels

    def target_sparsity(self, r: int) -> float:
        """The planned sparsity after round r (one-shot reaches the final one at once).

        With prune.structure = channels or refill: the fraction of prunable channels removed.
        """
        p = self.prune
        return target_sparsity(p.rate, p.rounds, p.one_shot, r, p.rate_schedule)

    def round_rate(self, r: int) -> float:
        """The fraction of the remaining weights (or channels) pruning round r removes (r >= 1).

        Follows prune.rate_schedule; one-shot's single step is not a rate (see prune_step.py).
        """
        p = self.prune
        return round_rates(p.rate, p.rounds, p.rate_schedule)[r - 1]

    @property
    def last_round(self) -> int:
        """The final round, the ticket (one-shot prunes once, in round 1)."""
        return planned_rounds(self.prune.rounds, self.prune.one_shot)

    def stops_early(self, r: int) -> bool:
        """Whether round r may stop early (early-bird): the pruned rounds before the ticket's.

        Round 0 trains in full: it is the dense reference the winner is matched
        against and the KD teacher, and a truncated one would lower both.
        """
        return self.prune.early_bird and 0 < r < self.last_round
