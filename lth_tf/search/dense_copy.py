"""Round 0 copied from another run (`--dense-from`) instead of trained.

`lth_tf/search/dense_from.py` has checked that the source's round 0 is the one this run
would train; here its weights, masks and metrics (with the training cost, which
the summary's cumulative cost still counts: the ticket needed that round) are
written into this run's store, and its rewind point when the run rewinds to one.
The source is only read: no lock taken, nothing written there (its round folder
is complete once it exists, see store.py).

What depends on this run's own settings rather than on training is recomputed
from the copied weights (the ticket size as served, channel_sparsity with
prune.structure = channels, the mask digest under a strategy), and the metrics
record `reused_from` {run_dir, config_hash}; the round_finished event carries it.
Only round_finished is emitted for a copied round: no round_started or epoch_end,
since nothing trains (the console would say "training N epochs").
"""

from __future__ import annotations

from typing import Any

from lth_tf.core import events as E
from lth_tf.core.masks import channels as CH
from lth_tf.keras_side import flops
from lth_tf.keras_side.narrow import ticket_size
from lth_tf.keras_side.pruning.channel_graph import channel_plan
from lth_tf.search.dense_from import DenseSource
from lth_tf.search.engine import RoundEngine, RoundResult
from lth_tf.search.mask_agreement import check_masks
from lth_tf.storage import store as S

# Round-0 metrics that follow from this run's settings, not from training: recomputed.
RECOMPUTED = ("inference", "channel_sparsity", "mask_digest", "reused_from")


def copy_round0(engine: RoundEngine, source: DenseSource) -> RoundResult:
    """Store `source`'s round 0 as `engine`'s round 0 and emit its round_finished."""
    plan = engine.plan
    src = S.RunStore(source.run_dir)  # read-only use: load_round / load_rewind
    weights, masks, src_metrics = src.load_round(0)
    wrapped = engine.fresh_model(plan.seed)
    wrapped.set_weights(weights)  # the wrapper's mask variables are among the weights
    metrics: dict[str, Any] = {k: v for k, v in src_metrics.items() if k not in RECOMPUTED}
    metrics["inference"] = ticket_size(wrapped, flops.graph_size(engine.load_data()), plan.channels)
    if plan.channels:
        metrics["channel_sparsity"] = CH.channel_sparsity(masks, channel_plan(wrapped), plan.prune.exclude)
    metrics.update(check_masks(wrapped, 0, engine.platform))
    metrics["reused_from"] = source.note()
    if source.copy_rewind:
        # Saved before round 0's folder, as when trained: that folder is the completion marker.
        engine.store.save_rewind(src.load_rewind())
    engine.store.save_round(0, weights, masks, metrics)
    engine.sink(E.RoundFinished.of({k: v for k, v in metrics.items() if k != "history"}).to_dict())
    return RoundResult(
        round=0,
        sparsity=metrics["sparsity"],
        val_acc=metrics["val_acc"],
        test_acc=metrics["test_acc"],
        layer_sparsity=metrics["layer_sparsity"],
        seconds=metrics["seconds"],
        best_epoch=metrics["best_epoch"],
        distill=metrics.get("distill"),
    )
