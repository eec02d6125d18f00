"""`lth-tf run`: run (or resume) an experiment; prints the run directory on stdout."""

from __future__ import annotations

import argparse
import faulthandler
import os
import subprocess
import sys
from pathlib import Path

from lth_tf.core import config as C
from lth_tf.core import rewind
from lth_tf.core.errors import LthError
from lth_tf.frontends.cli import options
from lth_tf.frontends.cli.tf_startup import _import_tf_quietly
from lth_tf.platform import onednn
from lth_tf.platform.distribute import TIMEOUT_VAR, collective_timeout
from lth_tf.platform.placement import Placement
from lth_tf.platform.platform import Platform
from lth_tf.search import dense_from, run_settings
from lth_tf.search.dense_from import DenseSource
from lth_tf.storage import rundir, store


def add_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run (or resume) an experiment; prints the run dir")
    options.add_experiment_options(run)
    run.add_argument("--out", default="checkpoints", help="root of run directories")
    options.add_data_dir_option(run)
    run.add_argument(
        "--quiet", action="store_true", help="plain log lines instead of progress bars"
    )
    run.add_argument("--no-export", action="store_true", help="do not export the winning ticket")
    options.add_no_timing_option(run)
    run.add_argument(
        "--dense-from",
        default=None,
        metavar="RUN_DIR",
        help="take round 0 (the dense network, its rewind point and cost) from this finished "
        "round 0 of another run instead of training it; every setting round 0 depends on must "
        "be equal (prune.* and distill.* of later rounds may differ); the source is only read",
    )


def cmd_run(args) -> int:
    exp = options.experiment_from_args(args)
    data_dir = options.check_data_dir(args.data_dir)
    placement = Placement.from_settings(exp.train)  # train.strategy, parsed once for this process
    out = placement.output_root(args.out)  # a non-chief worker writes to scratch
    run_dir = out / exp.run_name()
    _check_out(out, run_dir, exp)
    run_store = store.RunStore(run_dir)
    run_store.check_unlocked()  # another process runs it: say so before loading anything
    run_store.check_resume_point(exp.planned_rounds, rewind.parse(exp.prune.rewind).uses_snapshot)
    # The speed settings: what a resumed run started with, else the user's, this CPU's
    # `lth-tf tune` winner or the rule table's (lth_tf/platform/speed.py).
    chosen = run_settings.for_run(exp, run_dir)
    dense = _dense_source(exp, run_store, args.dense_from, chosen)

    onednn.choose(graph=exp.is_graph, enabled=chosen.onednn.value)  # before TF loads: TF reads it once
    _import_tf_quietly()
    # Before TF touches a device: threads, logical CPUs, collectives.
    platform = _make_platform(exp, placement, chosen)
    from lth_tf.export.ticket import TicketExporter
    from lth_tf.frontends.cli.console import console_sink
    from lth_tf.keras_side import data as datasets
    from lth_tf.search import preflight
    from lth_tf.search.lottery import LotterySearch

    # Data and the model's layers first: a missing data set or a layer name the
    # model does not have fails here, before a run dir is created or touched.
    data = datasets.load(exp.data, data_dir, seed=exp.seed)
    preflight.check_model(exp, data)
    with run_store.lock(), console_sink(quiet=args.quiet) as sink:
        search = LotterySearch(exp, out=out, data_dir=data_dir, sink=sink, data=data, dense_from=dense,
                               platform=platform)
        for _ in search.rounds():
            pass
        summary = search.finish(TicketExporter(timing=not args.no_timing), export=not args.no_export)
        _write_report(search.run_dir)
    if summary.get("ticket"):
        _print_ticket_cost(search.run_dir)
    print(search.run_dir, flush=True)
    return 0


def _print_ticket_cost(run_dir: Path) -> None:
    """The ticket's `cost:` line on stderr, as `lth-tf export` prints it: its params, MACs and
    measured latency, or why it was not timed (--no-timing), read from its marker.

    The ticket is read from this run directory (not summary.json's path, which names the folder
    the run had when it was written). None yet (--no-export on a new run), an old ticket that
    predates the marker, or a damaged marker: no line; the run itself is complete.
    """
    from lth_tf.export import cost_report, is_our_export

    ticket = rundir.ticket_dir(run_dir)
    if not is_our_export(ticket):
        return
    try:
        lines = cost_report(ticket)
    except (KeyError, ValueError, TypeError, OSError):
        return
    for line in lines:
        print(line, file=sys.stderr, flush=True)


def _make_platform(exp: C.Experiment, placement: Placement, chosen) -> Platform:
    """`Platform.from_settings`, bounded by LTH_COLLECTIVE_TIMEOUT for a multi_worker run.

    Joining the cluster waits inside TensorFlow for every worker of TF_CONFIG, with no
    limit of its own and holding the GIL (no Python thread or signal handler runs, so
    a chief whose peer never starts would wait for ever). faulthandler's watchdog is a
    C thread: after the timeout it writes its dump into a pipe and ends this process
    (exit 1); the pipe's reader, a small process, drops the dump and prints one line.
    Nothing of the run is written before this point.
    """
    timeout = collective_timeout() if placement.spec.kind == "multi_worker" else None
    if timeout is None:
        return Platform.from_settings(exp.train, placement, chosen)
    line = (f"lth-tf: error: the cluster of TF_CONFIG did not form within {TIMEOUT_VAR}={timeout:g} s "
            f"(not all of its {placement.workers} workers joined); start every worker's command, "
            "then this one again\n")
    reader = subprocess.Popen(  # prints `line` if anything arrives before the pipe closes
        [sys.executable, "-c", "import sys; sys.stdin.buffer.read() and sys.stderr.write(sys.argv[1])", line],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
    )
    faulthandler.dump_traceback_later(timeout, exit=True, file=reader.stdin)
    try:
        return Platform.from_settings(exp.train, placement, chosen)
    finally:
        faulthandler.cancel_dump_traceback_later()
        reader.stdin.close()  # EOF, nothing read: the reader ends without a word
        reader.wait()


def _check_out(out: Path, run_dir: Path, exp: C.Experiment) -> None:
    """--out must be a folder (or creatable); an existing run dir must hold this config."""
    for p in (out, run_dir):
        if p.is_symlink() and not p.exists():  # mkdir would say "File exists"
            raise LthError(f"--out: {p} is a broken link (to {os.readlink(p)}); remove it or give another --out")
        if p.exists() and not p.is_dir():
            raise LthError(f"--out: {p} exists and is not a folder; give another --out")
    rundir.check_holds(run_dir, exp.hash())


def _dense_source(exp: C.Experiment, run_store: store.RunStore, path: str | None, chosen) -> DenseSource | None:
    """The checked --dense-from source; None without one or when round 0 is already stored.

    A resumed run keeps the round 0 it has, so the flag is then a no-op (not checked:
    the source may be gone by now). `chosen`: this run's speed settings (the source's
    round 0 must have trained in the same precision and XLA setting).
    """
    if path is None or 0 in run_store.completed_rounds():
        return None
    return dense_from.check(exp, path, speed=chosen.values())


def _write_report(run_dir: Path) -> None:
    from lth_tf.frontends.report import write_report

    write_report(run_dir, plots=True)
