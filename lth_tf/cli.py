"""`lth-tf`: headless runs, reports and exports.

    lth-tf presets
    lth-tf run --preset NAME [--config FILE.toml] [--set key=value ...] [--rounds N]
               [--seed S] [--out DIR] [--data-dir DIR] [--quiet]
    lth-tf report RUN_DIR
    lth-tf export RUN_DIR [--round R] --out PATH [--format dense|sparse|tflite|narrow]
    lth-tf sweep --preset NAME --seeds 0-4 --grid KEY=V1,V2 ... --out SWEEP_DIR [--jobs N | --ray ADDR]
    lth-tf compare RUN_OR_SWEEP_DIR ... [--out DIR]

Errors a user can cause print one line on stderr and exit with code 2. Every
check that needs no TensorFlow (arguments, config, paths, stored rounds, the
export target) runs before TensorFlow is imported, so those errors come fast and
without TF's start-up log lines; TF's C++ start-up chatter is filtered from
stderr when it does load. The run directory is the only thing `run` prints on
stdout, so scripts can capture it; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

from lth_tf import config as C
from lth_tf import distribute, onednn, rundir, sources, store
from lth_tf.compare import command as compare_command
from lth_tf.errors import LthError
from lth_tf.export import FORMATS as EXPORT_FORMATS
from lth_tf.schedule import RewindMode
from lth_tf.sweep import command as sweep_command

EXIT_USAGE = 2
NARROW = "narrow"  # export format of channel-pruned tickets (lth_tf/export/narrow.py)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the contract) and exit 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"lth-tf: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lth-tf", description="Lottery-ticket experiments on TensorFlow/Keras.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("presets", help="list presets with a one-line description")

    run = sub.add_parser("run", help="run (or resume) an experiment; prints the run dir")
    add_experiment_args(run)
    run.add_argument(
        "--quiet", action="store_true", help="plain log lines instead of progress bars"
    )
    run.add_argument("--no-export", action="store_true", help="do not export the winning ticket")

    rep = sub.add_parser("report", help="table of rounds; writes RUN_DIR/report.md and plots")
    rep.add_argument("run_dir")

    exp = sub.add_parser("export", help="SavedModel of a round's ticket (default: the winner)")
    exp.add_argument("run_dir")
    exp.add_argument("--round", type=int, default=None)
    exp.add_argument("--out", required=True)
    exp.add_argument("--data-dir", default=None, help="data folder (for the model's input shape)")
    exp.add_argument(
        "--format", choices=(*EXPORT_FORMATS, NARROW), default="dense",
        help="dense: Keras SavedModel; sparse: pruned kernels stored without their zeros "
        "(tf.saved_model.load only); tflite: a TFLite model with sparse weights (image models); "
        "narrow: a channel-pruned ticket as a physically narrower model (fewer filters/units)",
    )  # fmt: skip

    sweep_command.add_parser(sub)
    compare_command.add_parser(sub)
    return p


def add_experiment_args(p: argparse.ArgumentParser) -> None:
    """Arguments shared by `lth-tf run` and `lth-tui`."""
    p.add_argument("--preset", default=None, help="a preset name (see `lth-tf presets`)")
    p.add_argument("--config", default=None, help="a TOML config layered over the preset")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--rounds", type=int, default=None, help="same as --set prune.rounds=N")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", default="checkpoints", help="root of run directories")
    p.add_argument("--data-dir", default=None, help="offline data folder (else $LTH_DATA_DIR)")


def experiment_from_args(args: argparse.Namespace) -> C.Experiment:
    if not args.preset and not args.config:
        raise LthError(
            "no experiment given; pass --preset NAME (see `lth-tf presets`) or --config FILE"
        )
    overrides = list(args.overrides)
    if args.rounds is not None:
        overrides.append(f"prune.rounds={args.rounds}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    return C.resolve(args.preset, args.config, overrides)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except LthError as e:
        print(f"lth-tf: error: {_one_line(str(e))}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:  # unwritable --out, full disk, ...: the user's to fix
        print(
            f"lth-tf: error: {_one_line(str(e))}; check the path, its permissions and free space",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("lth-tf: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- commands ---------------------------------------------------------------------------------
def cmd_presets(args) -> int:
    for name in C.preset_names():
        print(f"{name:24s} {C.preset_description(name)}")
    return 0


def cmd_run(args) -> int:
    exp = experiment_from_args(args)
    data_dir = _check_data_dir(args.data_dir)
    out = distribute.output_root(args.out, exp.train)  # a non-chief worker writes to scratch
    run_dir = out / exp.run_name()
    _check_out(out, run_dir, exp)
    run_store = store.RunStore(run_dir)
    run_store.check_unlocked()  # another process runs it: say so before loading anything
    run_store.check_resume_point(exp.planned_rounds, RewindMode.parse(exp.prune.rewind).uses_snapshot)

    onednn.choose(graph=exp.is_graph)  # before TF loads: TF reads it once
    _import_tf_quietly()
    distribute.setup(exp.train)  # before TF touches a device: logical CPUs, worker collectives
    from lth_tf import data as datasets
    from lth_tf import preflight
    from lth_tf.console import console_sink
    from lth_tf.lottery import LotterySearch

    # Data and the model's layers first: a missing data set or a layer name the
    # model does not have fails here, before a run dir is created or touched.
    data = datasets.load(exp.data, data_dir, seed=exp.seed)
    preflight.check_model(exp, data)
    with run_store.lock(), console_sink(quiet=args.quiet) as sink:
        search = LotterySearch(exp, out=out, data_dir=data_dir, sink=sink, data=data)
        for _ in search.rounds():
            pass
        search.finish(export=not args.no_export)
        _write_report(search.run_dir)
    print(search.run_dir, flush=True)
    return 0


def cmd_report(args) -> int:
    run_dir = rundir.existing(args.run_dir)
    from lth_tf.report import write_report

    print(write_report(run_dir, plots=True), end="")
    return 0


def cmd_export(args) -> int:
    from lth_tf.export import check_target, size_report, usage

    run_dir = rundir.existing(args.run_dir)
    exp = rundir.read_experiment(run_dir)
    done = rundir.completed_rounds(run_dir)
    if args.round is not None:
        if args.round not in done:
            raise LthError(
                f"round {args.round} is not stored in {run_dir}; stored rounds: {_ranges(done)}"
            )
        store.RunStore(run_dir).load_round(args.round)  # a corrupt checkpoint fails here, fast
    out = check_target(args.out)
    if out.resolve() == rundir.ticket_dir(run_dir).resolve():
        raise LthError(
            f"--out {out} is the run's own ticket folder (kept by `lth-tf run`); give another path"
        )
    data_dir = _check_data_dir(args.data_dir)
    if args.format == "tflite" and exp.is_graph:
        raise LthError("--format tflite takes image models (TFLite has no sparse graph "
                       "inputs); use --format sparse for a GCN")

    onednn.choose(graph=exp.is_graph)  # before TF loads: TF reads it once
    _import_tf_quietly()
    from lth_tf import data as datasets
    from lth_tf.lottery import LotterySearch

    # A run given its data from Python exports from its model file alone.
    data = None if exp.data.name == sources.PYTHON else datasets.load(exp.data, data_dir, seed=exp.seed)
    search = LotterySearch.open(run_dir, exp=exp, data_dir=data_dir, data=data)
    chosen = args.round if args.round is not None else search.winner_round()
    metrics = search.store.round_metrics(chosen)
    kind = "" if args.format == "dense" else f", {args.format} format"
    label = f"round {chosen} ({100 * metrics['sparsity']:.2f}% sparse{kind})"
    if args.format == NARROW:  # parameters of the narrower model vs the dense one
        from lth_tf.export.narrow import export_narrow

        path, lines = export_narrow(search, chosen, out)
    elif chosen == 0 and args.format == "dense":
        path = search.export(round=chosen, out=out)
        lines = size_report(path, label="dense")
    else:
        path = search.export(round=chosen, out=out, format=args.format)
        with tempfile.TemporaryDirectory(prefix="lth-dense-") as tmp:
            dense = search.export(round=0, out=Path(tmp) / "dense")
            lines = size_report(path, dense=dense, label="ticket")
    print(f"exported {label} of {run_dir}", file=sys.stderr)
    for line in lines:
        print(line, file=sys.stderr)
    for line in usage(path):
        print(line, file=sys.stderr)
    print(path, flush=True)
    return 0


# -- checks that need no TensorFlow ----------------------------------------------------------
def _check_data_dir(path: str | None) -> str | None:
    if path is not None and not Path(path).is_dir():
        raise LthError(
            f"--data-dir {path} is not a folder; point it at a folder laid out like shared/data"
        )
    return path


def _check_out(out: Path, run_dir: Path, exp: C.Experiment) -> None:
    """--out must be a folder (or creatable); an existing run dir must hold this config."""
    for p in (out, run_dir):
        if p.exists() and not p.is_dir():
            raise LthError(f"--out: {p} exists and is not a folder; give another --out")
    rundir.check_holds(run_dir, exp.hash())


def _ranges(rounds: list[int]) -> str:
    if not rounds:
        return "none (run `lth-tf run` until a round finishes)"
    return f"{rounds[0]}..{rounds[-1]}" if len(rounds) > 1 else str(rounds[0])


def _write_report(run_dir: Path) -> None:
    from lth_tf.report import write_report

    write_report(run_dir, plots=True)


# -- TensorFlow's start-up chatter --------------------------------------------------------------
# Lines TF's C++ side prints on import and first device query, whatever
# TF_CPP_MIN_LOG_LEVEL says (they come before absl logging is initialised).
_TF_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|I\d{4} [\d:.]+\s+\d+ \S+\.cc:\d+\] .*"
    r"|[EW]\d{4} [\d:.]+\s+\d+ \S+\.cc:\d+\] .*(cuInit|cuda|CUDA|TensorRT|oneDNN).*"
    r"|To enable the following instructions: .* rebuild TensorFlow .*)$"
)


def _import_tf_quietly() -> None:
    """Import TF (and the modules that import it) with its start-up lines filtered.

    Everything written to stderr meanwhile is captured at the file-descriptor
    level and replayed, minus the known noise. TF_CPP_MIN_LOG_LEVEL=0 keeps it all.
    """
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        _import_tf()
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        _import_tf()
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            _import_tf()
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [
                ln
                for ln in tmp.read().decode(errors="replace").splitlines()
                if ln.strip() and not _TF_NOISE.match(ln)
            ]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def _import_tf() -> None:
    from lth_tf import lottery  # noqa: F401  (TF, tf_keras, tfmot)
    from lth_tf._keras import tf

    tf.config.list_physical_devices()  # the CUDA probe logs here, not at import


COMMANDS = {
    "presets": cmd_presets,
    "run": cmd_run,
    "report": cmd_report,
    "export": cmd_export,
    "sweep": sweep_command.cmd_sweep,
    "compare": compare_command.cmd_compare,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
