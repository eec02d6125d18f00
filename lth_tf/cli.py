"""`lth-tf`: headless runs, reports and exports.

    lth-tf presets
    lth-tf run --preset NAME [--config FILE.toml] [--set key=value ...] [--rounds N]
               [--seed S] [--out DIR] [--data-dir DIR] [--quiet]
    lth-tf report RUN_DIR
    lth-tf export RUN_DIR [--round R] --out PATH

Errors a user can cause print one line on stderr and exit with code 2. The run
directory is the only thing printed on stdout by `run`, so scripts can capture it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lth_tf import config as C
from lth_tf.errors import LthError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the contract) and exit 2."""

    def error(self, message: str):  # noqa: D401
        self.exit(EXIT_USAGE, f"lth-tf: error: {message}; see `lth-tf {self.prog.split()[-1]} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lth-tf", description="Lottery-ticket experiments on TensorFlow/Keras.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("presets", help="list presets with a one-line description")

    run = sub.add_parser("run", help="run (or resume) an experiment; prints the run dir")
    add_experiment_args(run)
    run.add_argument("--quiet", action="store_true", help="plain log lines instead of progress bars")
    run.add_argument("--no-export", action="store_true", help="do not export the winning ticket")

    rep = sub.add_parser("report", help="table of rounds; writes RUN_DIR/report.md and plots")
    rep.add_argument("run_dir")

    exp = sub.add_parser("export", help="SavedModel of a round's ticket (default: the winner)")
    exp.add_argument("run_dir")
    exp.add_argument("--round", type=int, default=None)
    exp.add_argument("--out", required=True)
    exp.add_argument("--data-dir", default=None, help="data folder (for the model's input shape)")
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
        raise LthError("no experiment given; pass --preset NAME (see `lth-tf presets`) or --config FILE")
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
        print(f"lth-tf: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("lth-tf: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def cmd_presets(args) -> int:
    for name in C.preset_names():
        print(f"{name:24s} {C.preset_description(name)}")
    return 0


def cmd_run(args) -> int:
    exp = experiment_from_args(args)
    data_dir = _check_data_dir(args.data_dir)
    from lth_tf.console import console_sink
    from lth_tf.lottery import LotterySearch

    with console_sink(quiet=args.quiet) as sink:
        search = LotterySearch(exp, out=args.out, data_dir=data_dir, sink=sink)
        for _ in search.rounds():
            pass
        search.finish(export=not args.no_export)
    _write_report(search.run_dir)
    print(search.run_dir)
    return 0


def cmd_report(args) -> int:
    run_dir = _existing_run_dir(args.run_dir)
    from lth_tf.report import write_report

    print(write_report(run_dir, plots=True))
    return 0


def cmd_export(args) -> int:
    run_dir = _existing_run_dir(args.run_dir)
    from lth_tf.export import size_report
    from lth_tf.lottery import LotterySearch

    search = LotterySearch.open(run_dir, data_dir=_check_data_dir(args.data_dir))
    path = search.export(round=args.round, out=args.out)
    print(path)
    for line in size_report(path):
        print(line, file=sys.stderr)
    return 0


def _existing_run_dir(path: str) -> Path:
    p = Path(path)
    if not (p / "config.toml").is_file():
        raise LthError(f"{p} is not a run directory (no config.toml); give the folder `lth-tf run` printed")
    return p


def _check_data_dir(path: str | None) -> str | None:
    if path is not None and not Path(path).is_dir():
        raise LthError(f"--data-dir {path} is not a folder; point it at a folder laid out like shared/data")
    return path


def _write_report(run_dir: Path) -> None:
    from lth_tf.report import write_report

    write_report(run_dir, plots=True)


COMMANDS = {"presets": cmd_presets, "run": cmd_run, "report": cmd_report, "export": cmd_export}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
