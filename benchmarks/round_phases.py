"""Where a round's time goes outside its epochs, float32 vs mixed_bfloat16, with tf.data's
autotune thread (TensorFlow's default, what lth-tf did before) and without it (lth-tf now).

Keras makes a new training iterator every epoch and deletes the old one; deleting it
joins tf.data's autotune thread, which first sleeps out its optimisation period (it
doubles up to 60 s while an epoch runs). lth-tf's image pipelines turn autotuning off
(lth_tf/keras_side/data/images.py, `without_autotune_thread`); "autotune" here puts it
back (this benchmark's worker replaces that function by the identity) to measure the
difference. Each run is `lth-tf run --preset cifar10-resnet18-cpu --rounds 0` in its own
process, the four settings interleaved (rotated each repetition); from events.jsonl:

- epochs: the sum of the epochs' own seconds (`epoch_end.seconds`: epoch begin to end);
- between epochs: the round's training seconds (`round_finished.seconds`: fit, from its
  start to the masks applied after it) minus the epochs;
- after training: round_started to round_finished minus the training seconds (model
  build, final evaluation of val and test, metrics, checkpoint).

    python benchmarks/round_phases.py                      # 2 epochs on 20000 images, 1 repetition
    python benchmarks/round_phases.py --reps 2 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RUNS, cpu_facts, write_result

SETTINGS = [("float32", False), ("mixed_bfloat16", False), ("float32", True), ("mixed_bfloat16", True)]
WORKER = (
    "import sys\n"
    "if sys.argv[1] == 'autotune':\n"
    "    import lth_tf.keras_side.data.images as images\n"
    "    images.without_autotune_thread = lambda ds: ds  # TensorFlow's default: autotune on\n"
    "from lth_tf.frontends.cli.main import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def phases(run_dir: Path) -> dict:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line.strip()]
    started = next(e for e in events if e["event"] == "round_started")
    finished = next(e for e in events if e["event"] == "round_finished")
    epochs = [e["seconds"] for e in events if e["event"] == "epoch_end"]
    wall = finished["time"] - started["time"]
    return {"epochs": sum(epochs), "epoch_seconds": epochs, "between_epochs": finished["seconds"] - sum(epochs),
            "after_training": wall - finished["seconds"], "round_wall": wall,
            "outside_epochs": wall - sum(epochs), "test_acc": finished["test_acc"]}


def one(precision: str, autotune: bool, epochs: int, subset: int, data_dir: str | None, cache: str, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "LTH_CACHE_DIR": cache}
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    cmd = [sys.executable, "-c", WORKER, "autotune" if autotune else "lth-tf", "run",
           "--preset", "cifar10-resnet18-cpu", "--rounds", "0", "--set", "prune.controls=",
           "--set", f"train.epochs={epochs}", "--set", f"data.train_subset={subset}",
           "--set", f"train.precision={precision}", "--out", str(out), "--quiet", "--no-export"]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    load = os.getloadavg()[0]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"precision": precision, "autotune": autotune, "error": proc.stderr.strip()[-400:]}
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    return {"precision": precision, "autotune": autotune, **phases(run_dir), "loadavg_before": load,
            "loadavg_after": os.getloadavg()[0]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--subset", type=int, default=20000, help="data.train_subset (0: all 45000)")
    p.add_argument("--data-dir", default=os.environ.get("LTH_DATA_DIR"))
    p.add_argument("--note", default="")
    args = p.parse_args(argv)
    t0, rows = time.time(), []
    with tempfile.TemporaryDirectory(prefix="lth-phases-cache-") as cache:
        for rep in range(args.reps):
            order = SETTINGS[rep % 4:] + SETTINGS[:rep % 4]
            for precision, autotune in order:
                out = RUNS / "round_phases" / f"{precision}-{'autotune' if autotune else 'lth'}"
                rows.append({"rep": rep, **one(precision, autotune, args.epochs, args.subset, args.data_dir,
                                                cache, out)})
                r = rows[-1]
                print(precision, "autotune" if autotune else "lth-tf", {k: round(v, 1) for k, v in r.items()
                      if isinstance(v, float)}, r.get("error", ""), flush=True)
    summary = {}
    for precision, autotune in SETTINGS:
        mine = [r for r in rows if r["precision"] == precision and r["autotune"] == autotune and "error" not in r]
        key = f"{precision}_{'autotune' if autotune else 'lth_tf'}"
        summary[key] = {k: statistics.median(r[k] for r in mine) for k in
                        ("epochs", "between_epochs", "after_training", "outside_epochs", "round_wall")} if mine else None
    headline = {"cpu": cpu_facts(), "epochs": args.epochs, "train_subset": args.subset, "reps": args.reps,
                "median_seconds": summary}
    path = write_result("round_phases_" + headline["cpu"]["kind"], headline,
                        {"runs": rows, "note": "shared 2-core machine; " + args.note}, False, time.time() - t0)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
