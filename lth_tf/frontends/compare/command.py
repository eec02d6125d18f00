"""`lth-tf compare RUN_OR_SWEEP_DIR ...`: settings side by side, mean ± std over seeds.

    lth-tf compare sweeps/cora                 # writes sweeps/cora/compare/
    lth-tf compare RUN_A RUN_B RUN_C --out cmp # any run directories

Runs that differ only in their seed are seeds of one setting. Runs without a
summary yet (not started, or killed before round 0 finished) are listed and
left out; one seed given twice in a setting is refused. Each setting's ticket is
the winner rule (lth_tf/core/winner.py) on its mean validation accuracy, with its
prune.tolerance or --tolerance. Prints the Markdown summary table on stdout;
writes compare.md, compare.png, compare.svg and compare.json. No TensorFlow here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lth_tf.core.errors import LthError
from lth_tf.core.paths import what_is
from lth_tf.frontends.compare import aggregate as A
from lth_tf.frontends.compare import write
from lth_tf.frontends.sweep import index as sweep_index
from lth_tf.storage import rundir

COMPARE_DIR = "compare"  # inside a sweep directory, the default --out


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="mean ± std over seeds per setting; Markdown + PNG")
    p.add_argument("dirs", nargs="+", metavar="RUN_OR_SWEEP_DIR")
    p.add_argument("--out", default=None,
                   help="folder for compare.md/.png/.svg/.json (default: SWEEP_DIR/compare for one sweep)")
    p.add_argument("--tolerance", type=float, default=None, metavar="T",
                   help="the winner rule's tolerance as a fraction of accuracy, e.g. 0.01 for 1 point "
                        "(default: each setting's prune.tolerance)")


def run_dirs(paths: list[str]) -> list[Path]:
    """Every run directory named, a sweep standing for its cells' runs."""
    found: list[Path] = []
    for text in paths:
        path = Path(text)
        if not path.is_dir():
            kind = what_is(path)
            found = "does not exist" if kind == "missing" else f"is {kind}, not a folder"
            raise LthError(f"{path} {found}; give run directories or sweep directories")
        if sweep_index.is_sweep_dir(path):
            index = sweep_index.read_index(path)
            found += [path / c["run_dir"] for c in index["cells"]]
        elif rundir.is_run_dir(path):
            found.append(path)
        else:
            raise LthError(f"{path} is neither a run directory (no config.toml) nor a sweep "
                           "(no sweep.json); give the folder `lth-tf run` or `lth-tf sweep` printed")
    return list(dict.fromkeys(found))


def load_run(run_dir: Path) -> A.Run | None:
    """The run's config and summary; None if it has no finished round yet."""
    if not rundir.is_run_dir(run_dir):
        return None  # a sweep cell that never started
    summary = rundir.read_summary(run_dir)
    if not summary or not summary.get("rounds"):
        return None
    exp = rundir.read_experiment(run_dir)
    settings = A.flatten(exp.to_dict())
    seed = settings.pop("seed")
    return A.Run(run_dir.name, settings, int(seed), summary, exp.planned_rounds)


def default_out(paths: list[str]) -> Path:
    if len(paths) == 1 and sweep_index.is_sweep_dir(Path(paths[0])):
        return Path(paths[0]) / COMPARE_DIR
    raise LthError("--out is needed unless you compare exactly one sweep; e.g. --out compare-results")


def cmd_compare(args: argparse.Namespace) -> int:
    if args.tolerance is not None and not 0 <= args.tolerance <= 1:  # nan, inf: argparse's float takes them
        raise LthError(f"--tolerance {args.tolerance} is not a fraction of accuracy from 0 to 1; "
                       "use e.g. 0.01 (one point)")
    dirs = run_dirs(args.dirs)
    out = Path(args.out) if args.out else default_out(args.dirs)
    write.check_out(out)
    runs, missing = [], []
    for d in dirs:
        run = load_run(d)
        (runs.append(run) if run else missing.append(d))
    if missing:
        print(f"left out {len(missing)} run(s) with no finished round yet: "
              + ", ".join(str(m) for m in missing[:5]) + (" ..." if len(missing) > 5 else ""),
              file=sys.stderr)
    if not runs:
        raise LthError("no run with a finished round to compare; run or resume them first")
    groups = A.group(runs)
    A.check_seeds(groups)
    settings = [A.aggregate(s, args.tolerance) for s in groups]
    sources = [str(Path(p)) for p in args.dirs]
    for path in write.write_all(out, settings, sources):
        print(f"wrote {path}", file=sys.stderr)
    print(write.markdown(settings, sources).split("\n## ")[0].rstrip())
    return 0
