"""Export sizes: SavedModel (raw, gzip) and the compact ticket against the lower bound.

The lower bound stores only the nonzero prunable weights (4 bytes each), one
bit per prunable weight for the mask, and the other tensors (biases, BatchNorm)
at 4 bytes a value. For every round of a Cora GCN lottery run (trained weights)
and for ResNet-18 width 16 pruned by magnitude at its initialisation (untrained
weights, 0..7 rounds of 20%), we export a SavedModel through the product's
export path and a compact ticket (lth_tf.export.compact) and measure both.

    python benchmarks/export_size.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RUNS, write_result


def _measure(model, prunable: set[str], workdir: Path, label: str) -> dict:
    from lth_tf.export import compact, directory_size, export_savedmodel, gzip_size

    named = [(w.name, w.numpy()) for w in model.weights]
    sm = export_savedmodel(model, workdir / f"{label}-savedmodel")
    cp = compact.save(named, workdir / f"{label}.npz")
    bound = compact.lower_bound_bytes(named, prunable)
    raw, gz = directory_size(sm), gzip_size(sm)
    restored = compact.load(cp)
    exact = all((a == b).all() for (_, a), (_, b) in zip(named, restored))
    return {
        "savedmodel_bytes": raw,
        "savedmodel_gzip_bytes": gz,
        "compact_bytes": cp.stat().st_size,
        "lower_bound_bytes": bound,
        "gzip_ratio": gz / bound,
        "compact_ratio": cp.stat().st_size / bound,
        "compact_roundtrip_exact": exact,
    }


def _prunable_names(stripped, names: list[str]) -> set[str]:
    kernels = set()
    for layer in stripped.layers:
        if layer.name in names:
            kernels |= {w.name for w in layer.weights if "kernel" in w.name}
    return kernels


def gcn_rows(rounds: int, data_dir: str | None, workdir: Path) -> list[dict]:
    from lth_tf.core import config as C
    from lth_tf.core import masks as M
    from lth_tf.keras_side import pruning as P
    from lth_tf.search.lottery import LotterySearch

    exp = C.resolve("cora-gcn", overrides=[f"prune.rounds={rounds}", "prune.controls="])
    search = LotterySearch(exp, out=RUNS / "export_size", data_dir=data_dir)
    for _ in search.rounds():
        pass
    rows = []
    for r in search.completed_rounds():
        wrapped = search.model_for_round(r)
        masks = P.get_masks(wrapped)
        stripped = P.strip(wrapped)
        prunable = _prunable_names(stripped, list(masks))
        row = {"model": "gcn_cora", "round": r, "sparsity": M.sparsity(masks),
               **_measure(stripped, prunable, workdir, f"gcn{r:03d}")}
        rows.append(row)
    return rows


def resnet_rows(rounds: int, workdir: Path) -> list[dict]:
    from lth_tf.core import config as C
    from lth_tf.core import masks as M
    from lth_tf.keras_side import models
    from lth_tf.keras_side import pruning as P
    from lth_tf.platform.backend import keras

    cfg = C.Model(name="resnet18", width=16)
    keras.backend.clear_session()
    wrapped = P.wrap(models.build(cfg, (32, 32, 3), 10, 0))
    kernels = P.get_kernels(wrapped)
    masks = M.ones_like(kernels)
    rows = []
    for r in range(rounds + 1):
        if r:
            masks = M.prune(kernels, masks, 0.2)
        P.set_masks(wrapped, masks)
        stripped = P.strip(wrapped)
        prunable = _prunable_names(stripped, list(masks))
        rows.append({"model": "resnet18_w16_untrained", "round": r, "sparsity": M.sparsity(masks),
                     **_measure(stripped, prunable, workdir, f"resnet{r:03d}")})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        gcn = gcn_rows(5 if args.quick else 20, args.data_dir, Path(tmp))
        resnet = resnet_rows(3 if args.quick else 7, Path(tmp))
    last = gcn[-1]
    headline = {
        "size_ratio": last["gzip_ratio"],
        "size_ratio_compact": last["compact_ratio"],
        "at_sparsity": last["sparsity"],
        "model": "gcn_cora",
        "resnet18_w16_size_ratio": resnet[-1]["gzip_ratio"],
        "resnet18_w16_size_ratio_compact": resnet[-1]["compact_ratio"],
    }
    path = write_result("export_size", headline, {"rows": gcn + resnet}, args.quick, time.time() - t0)
    print(path)
    for row in gcn + resnet:
        print(f"{row['model']:24s} r{row['round']:02d} sparsity {100 * row['sparsity']:6.2f}%  "
              f"SavedModel {row['savedmodel_bytes'] / 1e3:9.1f} kB  gzip {row['savedmodel_gzip_bytes'] / 1e3:8.1f} kB  "
              f"compact {row['compact_bytes'] / 1e3:8.1f} kB  bound {row['lower_bound_bytes'] / 1e3:8.1f} kB  "
              f"gzip/bound {row['gzip_ratio']:.2f}  compact/bound {row['compact_ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
