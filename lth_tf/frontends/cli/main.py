"""`lth-tf`: headless runs, reports and exports.

    lth-tf presets
    lth-tf run --preset NAME [--config FILE.toml] [--set key=value ...] [--rounds N]
               [--seed S] [--out DIR] [--data-dir DIR] [--quiet]
    lth-tf report RUN_DIR
    lth-tf export RUN_DIR [--round R] --out PATH [--format dense|sparse|tflite|narrow]
    lth-tf sweep --preset NAME --seeds 0-4 --grid KEY=V1,V2 ... --out SWEEP_DIR [--jobs N | --ray ADDR]
    lth-tf compare RUN_OR_SWEEP_DIR ... [--out DIR]
    lth-tf tune --preset NAME [--config FILE] [--set ...] [--seconds 60] [--xla] [--show]

Errors a user can cause print one line on stderr and exit with code 2. Every
check that needs no TensorFlow (arguments, config, paths, stored rounds, the
export target) runs before TensorFlow is imported, so those errors come fast and
without TF's start-up log lines; TF's C++ start-up chatter is filtered from
stderr when it does load. The run directory is the only thing `run` prints on
stdout, so scripts can capture it; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.core.paths import NoSpace, is_no_space, path_in
from lth_tf.frontends.cli import export as export_command
from lth_tf.frontends.cli import run as run_command
from lth_tf.frontends.cli import tune as tune_command
from lth_tf.frontends.cli.export import cmd_export
from lth_tf.frontends.cli.run import cmd_run
from lth_tf.frontends.compare import command as compare_command
from lth_tf.frontends.sweep import command as sweep_command
from lth_tf.storage import atomic, rundir

__all__ = ["COMMANDS", "build_parser", "main"]

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the contract) and exit 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"lth-tf: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lth-tf", description="Lottery-ticket experiments on TensorFlow/Keras.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("presets", help="list presets with a one-line description")

    run_command.add_parser(sub)

    rep = sub.add_parser("report", help="table of rounds; writes RUN_DIR/report.md and plots")
    rep.add_argument("run_dir")

    export_command.add_parser(sub)
    sweep_command.add_parser(sub)
    compare_command.add_parser(sub)
    tune_command.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except LthError as e:
        print(f"lth-tf: error: {_one_line(str(e))}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as e:
        # unwritable --out, full disk, ...: the user's to fix (a full disk may also come as
        # another library's error, e.g. TensorFlow's ResourceExhaustedError)
        if not (isinstance(e, OSError) or is_no_space(e)):
            raise
        where = path_in(e)
        if is_no_space(e):
            text = str(NoSpace(atomic.public_path(where))) if where else (
                "no space left on the disk; free some space (or use another --out), then run the "
                "same command again: what was stored before is kept")
        else:
            text = f"{_os_error(e)}; check the path, its permissions and free space"
        print(f"lth-tf: error: {_one_line(text)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("lth-tf: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def _os_error(e: OSError) -> str:
    """The error's text with our temporary names replaced by the paths they stand for."""
    text = str(e)
    for name in (e.filename, e.filename2):
        if isinstance(name, (str, Path)):
            text = text.replace(str(name), str(atomic.public_path(name)))
    return text


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- commands ---------------------------------------------------------------------------------
def cmd_presets(args) -> int:
    for name in C.preset_names():
        print(f"{name:24s} {C.preset_description(name)}")
    return 0


def cmd_report(args) -> int:
    run_dir = rundir.existing(args.run_dir)
    from lth_tf.frontends.report import write_report

    print(write_report(run_dir, plots=True), end="")
    return 0


COMMANDS = {
    "presets": cmd_presets,
    "run": cmd_run,
    "report": cmd_report,
    "export": cmd_export,
    "sweep": sweep_command.cmd_sweep,
    "compare": compare_command.cmd_compare,
    "tune": tune_command.cmd_tune,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
