"""CIFAR-10 ResNet-18 (width 16) lottery at CPU scale: the `cifar10-resnet18-cpu` preset.

Dense, then 7 rounds of 20% global magnitude pruning with rewinding to init
(~79% sparse), and the random-reinit control at the last round. Reports test
accuracy per round and minutes per round. Data: the CIFAR-10 JPEG copy
(accuracies can differ slightly from the pickled original). Resumable: an
interrupted run continues from its last completed round.

    python benchmarks/cifar_resnet18_cpu.py                # 1 seed, ~25-30 min here
    python benchmarks/cifar_resnet18_cpu.py --seeds 3
    python benchmarks/cifar_resnet18_cpu.py --quick        # 2 rounds on 5,000 images, 1 epoch
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RUNS, mean_std, write_result


def run_seed(seed: int, overrides: list[str], data_dir: str | None, out: Path) -> dict:
    from lth_tf.core import config as C
    from lth_tf.search.lottery import LotterySearch

    exp = C.resolve("cifar10-resnet18-cpu", overrides=[*overrides, f"seed={seed}"])
    search = LotterySearch(exp, out=out, data_dir=data_dir)
    for r in search.rounds():
        print(f"seed {seed} round {r.round}: sparsity {100 * r.sparsity:.1f}% "
              f"test {100 * r.test_acc:.2f}% ({r.seconds / 60:.1f} min)", flush=True)
    return search.finish(export=False)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    overrides = ["data.train_subset=5000", "train.epochs=1", "prune.rounds=2"] if args.quick else []
    out = RUNS / ("cifar_quick" if args.quick else "cifar")
    t0 = time.time()
    summaries = [run_seed(s, overrides, args.data_dir, out) for s in range(args.seeds)]

    n = min(len(s["rounds"]) for s in summaries)
    rounds = []
    for r in range(n):
        tm, ts = mean_std(s["rounds"][r]["test_acc"] for s in summaries)
        rounds.append({
            "round": r,
            "sparsity": summaries[0]["rounds"][r]["sparsity"],
            "test_mean": tm,
            "test_std": ts,
            "minutes_mean": mean_std(s["rounds"][r]["seconds"] / 60 for s in summaries)[0],
        })
    controls = [c for s in summaries for c in s["controls"]]
    dense, last = rounds[0], rounds[-1]
    reinit = [c["test_acc"] for c in controls if c["kind"] == "random_reinit" and c["round"] == last["round"]]
    headline = {
        "final_sparsity": last["sparsity"],
        "delta_vs_dense": 100 * (last["test_mean"] - dense["test_mean"]),
        "dense_test": dense["test_mean"],
        "ticket_test": last["test_mean"],
        "random_reinit_test": mean_std(reinit)[0] if reinit else None,
        "best_round_delta_vs_dense": max(100 * (r["test_mean"] - dense["test_mean"]) for r in rounds[1:]),
        "seeds": args.seeds,
        "data": "CIFAR-10 (JPEG copy)",
    }
    path = write_result("cifar_resnet18_cpu", headline, {"rounds": rounds, "controls": controls},
                        args.quick, time.time() - t0)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
