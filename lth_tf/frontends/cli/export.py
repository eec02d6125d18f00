"""`lth-tf export`: a round's ticket (default: the winner) as dense, sparse, tflite, narrow or keras.

Without --format: narrow for a channel-pruned run (prune.structure = channels, refill),
dense otherwise (`formats.default`); --format narrow on a weight-pruned run
warns in one line. The marker records the export's params, MACs and measured
latency with the CPU (lth_tf/export/latency.py); --no-timing skips the timing. The export records the run and round it came from, and an
export of another run at --out is refused unless --force.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lth_tf.core import sources
from lth_tf.core.errors import LthError
from lth_tf.export import formats
from lth_tf.frontends.cli.options import add_no_timing_option, check_data_dir
from lth_tf.frontends.cli.tf_startup import _import_tf_quietly
from lth_tf.platform import onednn
from lth_tf.platform.platform import Platform
from lth_tf.storage import rundir, store


def add_parser(sub: argparse._SubParsersAction) -> None:
    exp = sub.add_parser("export", help="SavedModel of a round's ticket (default: the winner)")
    exp.add_argument("run_dir")
    exp.add_argument("--round", type=int, default=None)
    exp.add_argument("--out", required=True)
    exp.add_argument("--data-dir", default=None, help="data folder (for the model's input shape)")
    exp.add_argument("--format", choices=formats.NAMES, default=None,
                     help=formats.help_text() + " (default: narrow for prune.structure=channels or refill, else dense)")
    exp.add_argument("--force", action="store_true",
                     help="replace an export of another run at --out (refused otherwise)")
    add_no_timing_option(exp, "the export's")


def cmd_export(args) -> int:
    from lth_tf.core import criteria
    from lth_tf.export import check_target, export_source, usage

    run_dir = rundir.existing(args.run_dir)
    exp = rundir.read_experiment(run_dir)
    done = rundir.completed_rounds(run_dir)
    if args.round is not None:
        if args.round not in done:
            raise LthError(
                f"round {args.round} is not stored in {run_dir}; stored rounds: {_ranges(done)}"
            )
        store.RunStore(run_dir).load_round(args.round)  # a corrupt checkpoint fails here, fast
    # The round is not known yet (the winner is picked once TF is up); the run is.
    if Path(args.out).resolve() == rundir.ticket_dir(run_dir).resolve():  # before --force could apply
        raise LthError(
            f"--out {args.out} is the run's own ticket folder (kept by `lth-tf run`); give another path"
        )
    out = check_target(args.out, export_source(run_dir, rundir.stored_hash(run_dir), -1), args.force)
    data_dir = check_data_dir(args.data_dir)
    channels = criteria.get(exp.prune.structure).channels
    fmt = formats.get(args.format or formats.default(channels))
    if reason := fmt.refusal(exp) or fmt.out_refusal(out):
        raise LthError(f"--format {fmt.name} {reason}")
    warning = fmt.warning(channels)
    if warning:
        print(f"lth-tf: warning: {warning}", file=sys.stderr, flush=True)

    onednn.choose(graph=exp.is_graph)  # before TF loads: TF reads it once
    _import_tf_quietly()
    from lth_tf.export.ticket import export_with_report
    from lth_tf.keras_side import data as datasets
    from lth_tf.search.lottery import LotterySearch

    # A run given its data from Python exports from its model file alone.
    data = None if exp.data.name == sources.PYTHON else datasets.load(exp.data, data_dir, seed=exp.seed)
    # One device, no strategy: a run of any strategy exports on any machine.
    search = LotterySearch.open(run_dir, exp=exp, data_dir=data_dir, data=data, platform=Platform.single(exp.train))
    chosen = args.round if args.round is not None else search.winner_round()
    metrics = search.store.round_metrics(chosen)
    kind = "" if fmt.name == formats.DENSE else f", {fmt.name} format"
    label = f"round {chosen} ({100 * metrics['sparsity']:.2f}% sparse{kind})"
    path, lines = export_with_report(search, chosen, out, fmt.name, force=args.force,
                                     timing=not args.no_timing)  # its report lines
    print(f"exported {label} of {run_dir}", file=sys.stderr)
    for line in lines:
        print(line, file=sys.stderr)
    for line in usage(path):
        print(line, file=sys.stderr)
    print(path, flush=True)
    return 0


def _ranges(rounds: list[int]) -> str:
    if not rounds:
        return "none (run `lth-tf run` until a round finishes)"
    return f"{rounds[0]}..{rounds[-1]}" if len(rounds) > 1 else str(rounds[0])
