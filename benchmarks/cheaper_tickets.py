"""Cheaper tickets: what a ticket at the target sparsity costs with plain IMP, early-bird IMP, one-shot and a cubic rate schedule.

For each preset, three ways to reach the same final sparsity run through the
product's API (LotterySearch), and the benchmark reads from each summary.json the
cost of reaching the last round (examples, optimizer steps, estimated training
FLOPs, training seconds; `cumulative_cost`) and that round's test accuracy:

- plain: iterative magnitude pruning, every round trains in full;
- early_bird: the same, but each round between the dense one and the ticket stops
  once its next mask has moved less than `prune.eb_distance` for `prune.eb_window`
  epochs (the dense round 0 and the final round train in full);
- one_shot: one pruning step straight to the target sparsity (two trainings);
- early_bird_lr: early-bird IMP with `prune.rewind = lr` (each round keeps
  training the previous round's weights instead of restarting from init), its
  own threshold chosen like early_bird's; compared with plain IMP as configured
  (rewind to init), so it is a trained sparse network, not a ticket retrained from init;
- schedule: IMP in K rounds to the same final sparsity S with
  `prune.rate_schedule = cubic:S` (Zhu & Gupta's cubic schedule: large steps
  first, small ones near the target), every round trained in full.

The early-bird threshold and the schedule's K are chosen on VALIDATION accuracy
of a tuning seed kept apart from the evaluation seeds: the cheapest setting of
the grid whose ticket's validation accuracy is within 0.5 points of plain IMP's
on that seed. Test accuracy is reported, never used to choose.

    python benchmarks/cheaper_tickets.py                          # Cora (5 seeds) and CIFAR (1 seed)
    python benchmarks/cheaper_tickets.py --presets cora-gcn       # Cora only (~15 min on 2 cores)
    python benchmarks/cheaper_tickets.py --quick                  # Cora, 2 seeds, 6 rounds, 100 epochs
    python benchmarks/cheaper_tickets.py --presets cora-gcn --reuse plain,one_shot --reuse-from OLD.json

`--reuse` takes those methods' per-seed tickets from an earlier result file
instead of training them again; it refuses a file whose rounds, rate or seeds
differ. Runs are deterministic in their config and seed (the tuning seed's
tickets repeat to the last digit), so only the seconds differ; the result
records which methods were reused and from which commit.

A method's run started beforehand with `lth-tf run ... --dense-from PLAIN_RUN`
(same settings, so the same run directory) is resumed as it is: its ticket then
records `dense_from`, the run whose round 0 it copied instead of training it
(round 0 is the same for every method; its cost still counts in the ticket's).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cheaper_results import merge_earlier, reused_tickets, summarise, ticket_of
from benchmarks.common import RUNS, git_commit, mean_std, run_parallel, write_result

TUNE_SEED = 1000
VAL_POINTS = 0.005  # early-bird's tuning-seed ticket must be within 0.5 points of plain on validation
TARGET_RATIO = 3.0  # the goal: at least 3x less compute than plain IMP ...
TARGET_POINTS = 0.5  # ... with mean test accuracy within 0.5 points

# preset -> target sparsity, seeds, early-bird window (epochs), threshold grid, schedule rounds grid.
PRESETS: dict[str, dict[str, Any]] = {
    "cora-gcn": {"target": 0.95, "seeds": 5, "window": 5, "grid": [0.1, 0.05, 0.02], "k_grid": [2, 3]},
    # 4 epochs a round: a window of 1 is the only one that can stop a round (at epoch 2).
    # 8 full trainings for plain: K = 2 (3 trainings) is the only schedule that saves much.
    "cifar10-resnet18-cpu": {"target": 0.79, "seeds": 1, "window": 1, "grid": [0.1], "k_grid": [2]},
}
METHODS = ("plain", "early_bird", "one_shot", "schedule", "early_bird_lr")


def rounds_for(target: float, rate: float) -> int:
    """Fewest rounds of `rate` pruning that reach `target` sparsity."""
    return math.ceil(math.log(1 - target) / math.log(1 - rate) - 1e-9)


def method_sets(method: str, eb_distance: float, window: int, k: int = 0, final: float = 0.0) -> list[str]:
    """Overrides of one method; "early_bird@D" is early-bird at threshold D (a side measurement).

    "schedule" replaces the base's prune.rounds (overrides apply in order) with K
    rounds of the cubic schedule to `final`, the plain run's planned sparsity.
    """
    if method.startswith("early_bird@"):
        return method_sets("early_bird", float(method.split("@", 1)[1]), window)
    if method == "early_bird":
        return ["prune.early_bird=true", f"prune.eb_distance={eb_distance}", f"prune.eb_window={window}"]
    if method == "early_bird_lr":
        return [*method_sets("early_bird", eb_distance, window), "prune.rewind=lr"]
    if method == "one_shot":
        return ["prune.one_shot=true"]
    if method == "schedule":
        return [f"prune.rounds={k}", f"prune.rate_schedule=cubic:{final!r}"]
    return []


def run_one(preset: str, overrides: list[str], seed: int, out: str, data_dir: str | None) -> dict[str, Any]:
    """One lottery run in this (child) process; resumes if checkpoints exist."""
    from lth_tf.core import config as C
    from lth_tf.search.lottery import LotterySearch
    from lth_tf.storage import rundir

    exp = C.resolve(preset, overrides=[*overrides, "prune.controls=", f"seed={seed}"])
    search = LotterySearch(exp, out=out, data_dir=data_dir)
    for _ in search.rounds():
        pass
    summary = search.finish(export=False)
    # Round 0 copied from another run (lth-tf run --dense-from) rather than trained here.
    summary["dense_from"] = rundir.round_metrics(search.run_dir, 0).get("reused_from")
    return summary


def choose_cheapest(preset: str, base: list[str], settings: dict[Any, list[str]], out: str,
                    data_dir: str | None, workers: int) -> tuple[Any, list[dict[str, Any]]]:
    """The cheapest setting whose tuning-seed ticket matches plain's validation accuracy.

    `settings` maps a setting (an early-bird threshold, a schedule's K) to its
    overrides, strictest first. None matching: the strictest (most training).
    """
    jobs = [(preset, base, TUNE_SEED, out, data_dir)]
    jobs += [(preset, [*base, *sets], TUNE_SEED, out, data_dir) for sets in settings.values()]
    sums = run_parallel(run_one, jobs, workers)
    plain = ticket_of(sums[0])
    rows = []
    for setting, s in zip(settings, sums[1:]):
        t = ticket_of(s)
        rows.append({"setting": setting, "val_acc": t["val_acc"], "examples": t["examples"],
                     "train_flops": t["train_flops"], "plain_val_acc": plain["val_acc"],
                     "matches": t["val_acc"] >= plain["val_acc"] - VAL_POINTS - 1e-12})
    matching = [r for r in rows if r["matches"]]
    chosen = min(matching, key=lambda r: r["examples"]) if matching else rows[0]
    return chosen["setting"], rows


def bench_preset(preset: str, quick: bool, seeds: int | None, workers: int, data_dir: str | None,
                 tune: bool, also_eb: list[float], reuse: list[str] = (),
                 reuse_from: str | None = None, only: list[str] = ()) -> dict[str, Any]:
    from lth_tf.core import config as C
    from lth_tf.core.schedule import final_sparsity, round_rates

    spec = PRESETS[preset]
    rate = C.resolve(preset).prune.rate
    rounds = 6 if quick else rounds_for(spec["target"], rate)
    base = [f"prune.rounds={rounds}"] + (["train.epochs=100"] if quick else [])
    out = str(RUNS / ("cheaper_tickets_quick" if quick else "cheaper_tickets"))
    n_seeds = seeds or (2 if quick else spec["seeds"])

    final = final_sparsity(rate, rounds)  # the schedule aims at plain's planned sparsity
    window = spec["window"]
    eb_distance, eb_rows = spec["grid"][0], []
    k, k_rows = spec["k_grid"][-1], []
    def wanted(m: str) -> bool:
        return not only or m in only

    if tune and len(spec["grid"]) > 1 and wanted("early_bird"):
        eb_distance, eb_rows = choose_cheapest(
            preset, base, {d: method_sets("early_bird", d, window) for d in sorted(spec["grid"])},
            out, data_dir, workers)
    if tune and len(spec["k_grid"]) > 1 and wanted("schedule"):
        k, k_rows = choose_cheapest(
            preset, base, {n: method_sets("schedule", 0, window, n, final) for n in sorted(spec["k_grid"], reverse=True)},
            out, data_dir, workers)

    eb_lr_distance, eb_lr_rows = spec["grid"][0], []
    if tune and len(spec["grid"]) > 1 and wanted("early_bird_lr"):
        eb_lr_distance, eb_lr_rows = choose_cheapest(
            preset, base, {d: method_sets("early_bird_lr", d, window) for d in sorted(spec["grid"])},
            out, data_dir, workers)

    # Extra early-bird thresholds, measured but not chosen (not judged against the target).
    chosen = [m for m in METHODS if m == "plain" or not only or m in only]
    methods_run = [*chosen, *(f"early_bird@{d}" for d in also_eb if d != eb_distance)]
    reused, reuse_note = {}, None
    if reuse:
        reused, reuse_note = reused_tickets(reuse_from, preset, list(reuse), rounds, rate, n_seeds)
    jobs, keys = [], []
    for method in methods_run:
        if method in reused:
            continue
        for seed in range(n_seeds):
            d = eb_lr_distance if method == "early_bird_lr" else eb_distance
            sets = method_sets(method, d, window, k, final)
            jobs.append((preset, [*base, *sets], seed, out, data_dir))
            keys.append(method)
    sums = run_parallel(run_one, jobs, workers)
    tickets = {m: reused.get(m) or [ticket_of(s) for k_, s in zip(keys, sums) if k_ == m] for m in methods_run}
    methods = {m: summarise(tickets[m]) for m in methods_run}
    plain = methods["plain"]
    for res in methods.values():
        res["compute_ratio_examples"] = plain["examples_mean"] / res["examples_mean"]
        res["compute_ratio_flops"] = plain["train_flops_mean"] / res["train_flops_mean"]
        res["time_ratio"] = plain["seconds_mean"] / res["seconds_mean"]
        res["test_delta_points"] = 100 * (res["test_acc_mean"] - plain["test_acc_mean"])
        # per seed against plain on the same seed: the spread of the difference
        deltas = [100 * (t["test_acc"] - p["test_acc"]) for t, p in zip(res["per_seed"], plain["per_seed"])]
        res["test_delta_points_std"] = mean_std(deltas)[1]
        # met: both compute ratios >= 3 and mean test accuracy no more than 0.5 points below plain.
        res["met"] = bool(min(res["compute_ratio_examples"], res["compute_ratio_flops"]) >= TARGET_RATIO
                          and res["test_delta_points"] >= -TARGET_POINTS)
    return {
        "target_sparsity": spec["target"],
        "rounds": rounds,
        "rate": rate,
        "seeds": n_seeds,
        "eb_window": window,
        "eb_distance": eb_distance,
        "eb_lr_distance": eb_lr_distance,
        "schedule": {"rounds": k, "rate_schedule": f"cubic:{final!r}",
                     "rates": list(round_rates(rate, k, f"cubic:{final!r}"))},
        "tuning": {"seed": TUNE_SEED, "early_bird": eb_rows, "schedule_rounds": k_rows,
                   "early_bird_lr": eb_lr_rows},
        "methods": methods,
        "reused": reuse_note,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="Cora only, 2 seeds, 6 rounds, 100 epochs, no tuning")
    p.add_argument("--presets", default=None, help=f"comma-separated subset of {', '.join(PRESETS)}")
    p.add_argument("--seeds", type=int, default=None, help="evaluation seeds (default per preset)")
    p.add_argument("--workers", type=int, default=2, help="parallel processes")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--also-eb", default="",
                   help="comma-separated extra early-bird thresholds to measure beside the chosen one")
    p.add_argument("--methods", default="", help=f"comma-separated subset of {', '.join(METHODS[1:])} "
                   "(plain always runs; default all)")
    p.add_argument("--reuse", default="", help="comma-separated methods whose tickets come from --reuse-from")
    p.add_argument("--reuse-from", default=None, help="an earlier cheaper_tickets result file (same plan)")
    args = p.parse_args(argv)
    names = (args.presets or ("cora-gcn" if args.quick else ",".join(PRESETS))).split(",")
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        p.error(f"unknown preset(s) {unknown}; use {', '.join(PRESETS)}")
    t0 = time.time()
    also = [float(x) for x in args.also_eb.split(",") if x]
    reuse = [m for m in args.reuse.split(",") if m]
    if reuse and not args.reuse_from:
        p.error("--reuse needs --reuse-from FILE")
    results = {n: bench_preset(n, args.quick, args.seeds, args.workers, args.data_dir, not args.quick, also,
                               reuse, args.reuse_from, [m for m in args.methods.split(",") if m])
               for n in names}
    headline = {}
    for n, r in results.items():
        plain = r["methods"]["plain"]
        headline[n] = {
            "sparsity": plain["sparsity"],
            "seeds": r["seeds"],
            "plain_test_mean": plain["test_acc_mean"],
            "plain_test_std": plain["test_acc_std"],
            "methods": {m: {"sparsity": x["sparsity"], "test_mean": x["test_acc_mean"], "test_std": x["test_acc_std"],
                            "ratio_examples": x["compute_ratio_examples"], "ratio_flops": x["compute_ratio_flops"],
                            "time_ratio": x["time_ratio"], "delta_points": x["test_delta_points"],
                            "delta_points_std": x["test_delta_points_std"], "met": x["met"]}
                        for m, x in r["methods"].items() if m != "plain"},
            "eb_distance": r["eb_distance"],
            "eb_lr_distance": r["eb_lr_distance"],
            "schedule": r["schedule"],
        }
    for n in results:  # which run measured each preset (a later --presets run keeps the others)
        headline[n]["measured"] = {"commit": git_commit(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                   "command": " ".join(["python", *sys.argv])}
    headline, results = merge_earlier(headline, results, args.quick)
    path = write_result("cheaper_tickets", headline, {"presets": results}, args.quick, time.time() - t0)
    print(path)
    for n, h in headline.items():
        for m, x in h["methods"].items():
            print(f"{n} {m}: {x['ratio_examples']:.2f}x fewer examples, {x['ratio_flops']:.2f}x fewer FLOPs, "
                  f"{x['time_ratio']:.2f}x less time, test {x['delta_points']:+.2f} ± {x['delta_points_std']:.2f} "
                  f"points vs plain; target {'met' if x['met'] else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
