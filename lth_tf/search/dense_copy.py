"""Round 0 copied from another run (`--dense-from`) instead of trained.

`lth_tf/search/dense_from.py` has checked that the source's round 0 is the one this run
would train; here its weights, masks and metrics (with the training cost, which
the summary's cumulative cost still counts: the ticket needed that round) are
written into this run's store, and its rewind point when the run rewinds to one.
The source is only read: no lock taken, nothing written there (its round folder
is complete once it exists, see store.py).

What depends on this run's own settings rather than on training is recomputed
from the copied weights as for a trained round (`round_metrics.served`: the ticket
size as served, channel_sparsity with prune.structure = channels or refill, the mask digest
under a strategy), and the metrics record `reused_from` {run_dir, config_hash};
the round_finished event carries it.
Only round_finished is emitted for a copied round: no round_started or epoch_end,
since nothing trains (the console would say "training N epochs").
"""

from __future__ import annotations

from lth_tf.search import round_metrics
from lth_tf.search.dense_from import DenseSource
from lth_tf.search.engine import RoundEngine, RoundResult
from lth_tf.storage import store as S


def copy_round0(engine: RoundEngine, source: DenseSource) -> RoundResult:
    """Store `source`'s round 0 as `engine`'s round 0 and emit its round_finished."""
    src = S.RunStore(source.run_dir)  # read-only use: load_round / load_rewind
    weights, masks, src_metrics = src.load_round(0)
    wrapped = engine.fresh_model(engine.plan.seed)
    wrapped.set_weights(weights)  # the wrapper's mask variables are among the weights
    metrics = round_metrics.copied(
        wrapped, src_metrics, masks, engine.load_data(), engine.plan, engine.platform, source.note()
    )
    if source.copy_rewind:
        # Saved before round 0's folder, as when trained: that folder is the completion marker.
        engine.store.save_rewind(src.load_rewind())
    return engine.store_round(0, weights, masks, metrics)
