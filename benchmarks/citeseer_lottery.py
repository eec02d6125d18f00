"""Kipf's GCN on Citeseer: the cora-gcn recipe on a second Planetoid graph.

20 rounds of 20% global magnitude pruning, rewinding to init (the classic
ticket) and learning-rate rewinding, 5 seeds each. Reports per round the mean
and std of test accuracy over seeds and `max_matching_sparsity` (the winning
ticket's sparsity by the winner rule with a 1-point tolerance, on the mean
validation accuracy), as benchmarks/cora_lottery.py does. Kipf & Welling report
70.3% for the dense GCN on Citeseer.

    python benchmarks/citeseer_lottery.py            # 5 seeds x 2 settings, 20 rounds
    python benchmarks/citeseer_lottery.py --quick    # 2 seeds, 4 rounds
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RUNS, TOLERANCE, run_parallel, write_result
from benchmarks.cora_lottery import aggregate
from lth_tf.frontends.compare.aggregate import ticket_of

SETTINGS = {
    "rewind_init": ["prune.rewind=init"],
    "lr_rewind": ["prune.rewind=lr"],
}


def run_one(overrides: list[str], seed: int, out: str, data_dir: str | None) -> dict:
    from lth_tf.core import config as C
    from lth_tf.search.lottery import LotterySearch

    exp = C.resolve("cora-gcn", overrides=["data.name=citeseer", *overrides, f"seed={seed}"])
    search = LotterySearch(exp, out=out, data_dir=data_dir)
    for _ in search.rounds():
        pass
    return search.finish(export=False)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--jobs", type=int, default=1)
    args = p.parse_args(argv)
    seeds, rounds = (2, 4) if args.quick else (5, 20)
    out = str(RUNS / ("citeseer_quick" if args.quick else "citeseer"))
    t0 = time.time()
    results = {}
    for name, overrides in SETTINGS.items():
        jobs = [([*overrides, f"prune.rounds={rounds}"], s, out, args.data_dir) for s in range(seeds)]
        summaries = run_parallel(run_one, jobs, args.jobs)
        table = aggregate(summaries)["rounds"]
        results[name] = {"rounds": table, "max_matching_sparsity": ticket_of(table, TOLERANCE)}
        dense = table[0]
        print(f"{name}: dense {100 * dense['test_mean']:.1f} +- {100 * dense['test_std']:.1f}, "
              f"matching to {100 * results[name]['max_matching_sparsity']:.2f}%", flush=True)
    dense = results["rewind_init"]["rounds"][0]
    headline = {
        "dense_test_mean": dense["test_mean"],
        "dense_test_std": dense["test_std"],
        "seeds": seeds,
        "rounds": rounds,
        **{f"max_matching_sparsity_{k}": v["max_matching_sparsity"] for k, v in results.items()},
        "reference_dense": 0.703,
    }
    path = write_result("citeseer_lottery", headline, {"settings": results}, args.quick, time.time() - t0)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
