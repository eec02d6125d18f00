"""A round's metrics.json, built here for a trained round and for a copied one.

    metrics = trained(r, wrapped, masks, training, data, plan, platform, early_bird)  # engine.run_round
    metrics = copied(wrapped, source_metrics, masks, data, plan, platform, reused_from)  # dense_copy

A round's metrics have two parts. What training measured (accuracies, losses,
epochs, cost, early-bird distances, the history) comes from the training, or for
a round 0 copied with --dense-from from the run that trained it. What follows
from the round's weights and masks and this run's own settings (`served`: the
ticket's size as served, the channel sparsity with prune.structure = channels or refill,
the mask digest under a strategy) is computed here for both, so a copied round
and a trained one say the same about the same weights.
"""

from __future__ import annotations

from typing import Any

from lth_tf.core import masks as M
from lth_tf.core.masks import channels as CH
from lth_tf.keras_side import flops
from lth_tf.keras_side import pruning as P
from lth_tf.keras_side.narrow import ticket_size
from lth_tf.platform.platform import Platform
from lth_tf.search.mask_agreement import check_masks
from lth_tf.search.plan import Plan

# The keys `served` may give: a copied round recomputes them, with `REUSED_FROM`.
SERVED_KEYS = ("inference", "channel_sparsity", "mask_digest")
REUSED_FROM = "reused_from"  # {run_dir, config_hash} of the run a copied round 0 came from


def served(wrapped: Any, r: int, masks: M.Masks, data: Any, plan: Plan, platform: Platform) -> dict[str, Any]:
    """What round r's weights and masks in `wrapped` are as this run serves them.

    "inference": params, nonzeros and FLOPs per example of the ticket (narrowed with
    channels); "channel_sparsity" with prune.structure = channels or refill; "mask_digest"
    under a strategy, after proving every replica and worker holds the same masks.
    """
    out: dict[str, Any] = {"inference": ticket_size(wrapped, flops.graph_size(data), plan.channels)}
    if plan.channels:
        out["channel_sparsity"] = CH.channel_sparsity(masks, P.channel_plan(wrapped), plan.prune.exclude)
    out.update(check_masks(wrapped, r, platform))
    return out


def trained(
    r: int, wrapped: Any, masks: M.Masks, training: Any, data: Any, plan: Plan, platform: Platform,
    early_bird: Any = None,
) -> dict[str, Any]:
    """metrics.json of round r, just trained in `wrapped` (`training`: a `RoundTraining`)."""
    return {
        "round": r,
        "sparsity": M.sparsity(masks),
        "val_acc": training.val_acc,
        "test_acc": training.test_acc,
        "val_loss": training.val_loss,
        "test_loss": training.test_loss,
        "layer_sparsity": M.layer_sparsity(masks),
        "seconds": training.seconds,
        "best_epoch": training.best_epoch,
        "epochs_run": training.epochs_run,
        "distill": training.distill,
        "cost": flops.training_cost(wrapped, training, data),
        **served(wrapped, r, masks, data, plan, platform),
        "early_bird": None if early_bird is None else {
            "stopped_at": early_bird.stopped_at,  # 1-based epoch, or None: trained in full
            "distances": early_bird.distances,
        },
        "history": training.history,
    }


def copied(
    wrapped: Any, source: dict[str, Any], masks: M.Masks, data: Any, plan: Plan, platform: Platform,
    reused_from: dict[str, str],
) -> dict[str, Any]:
    """metrics.json of a round 0 copied from another run: `source`, the metrics that run
    stored, keeps what training measured (its cost counts in this run's cumulative cost);
    `served` is recomputed for this run's settings from the copied weights in `wrapped`."""
    kept = {k: v for k, v in source.items() if k not in (*SERVED_KEYS, REUSED_FROM)}
    return {**kept, **served(wrapped, 0, masks, data, plan, platform), REUSED_FROM: reused_from}
