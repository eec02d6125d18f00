"""lth-tui: the App and the `lth-tui` console script.

    lth-tui                                   pick a preset, then step through the run
    lth-tui --preset smoke [--set k=v ...]    straight to the run, in step mode (also --config,
                                              --rounds, --seed: the experiment options of `lth-tf run`)
    lth-tui --attach checkpoints/RUN          follow (or replay) a run directory
    lth-tui --attach sweeps/NAME              the cells of an `lth-tf sweep`; Enter opens one
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from textual.app import App

from lth_tf.core import config as C
from lth_tf.core.cache import cache_dir
from lth_tf.core.errors import LthError
from lth_tf.frontends.cli import options
from lth_tf.frontends.sweep.index import is_sweep_dir
from lth_tf.storage import rundir
from tui.screens import RunScreen, StartScreen
from tui.screens.sweep import SweepScreen


class LthApp(App):
    """Start screen, or a run screen straight away (--preset or --config / --attach)."""

    CSS_PATH = "app.tcss"
    TITLE = "lth-tui"

    def __init__(
        self,
        preset: str | None = None,
        overrides: list[str] | tuple[str, ...] = (),
        out: str | Path = "checkpoints",
        data_dir: str | Path | None = None,
        attach: str | Path | None = None,
        config: str | Path | None = None,
    ) -> None:
        """`overrides` are --set items (with --rounds and --seed among them, see `options.overrides`)."""
        super().__init__()
        self.preset, self.config, self.overrides = preset, config, list(overrides)
        self.out, self.data_dir, self.attach = str(out), data_dir, attach

    def start_screen(self, preset: str | None = None, error: str | None = None) -> StartScreen:
        return StartScreen(self.overrides, self.out, self.data_dir, preset, error=error, config=self.config)

    def on_mount(self) -> None:
        if self.attach is not None and is_sweep_dir(Path(self.attach)):
            self.push_screen(SweepScreen(self.attach))
        elif self.attach is not None:
            try:
                run_dir = rundir.existing(self.attach)
            except LthError as e:
                self.push_screen(self.start_screen(error=str(e)))
                return
            self.push_screen(RunScreen(attach=run_dir))
        elif self.preset is not None or self.config is not None or options.sets_model_and_data(self.overrides):
            try:
                exp = C.resolve(self.preset, self.config, self.overrides)
            except LthError as e:  # show the form with the message instead
                self.push_screen(self.start_screen(self.preset, error=str(e)))
                return
            self.push_screen(RunScreen(exp=exp, out=self.out, data_dir=self.data_dir))
        else:
            self.push_screen(self.start_screen())

    async def action_quit(self) -> None:
        """ctrl+q: on a run screen, stop training cleanly first."""
        if isinstance(self.screen, RunScreen):
            self.screen.action_quit_run()
        else:
            self.exit()


class _Parser(argparse.ArgumentParser):
    """A usage error is one line and exit 2, as lth-tf's (not argparse's usage block)."""

    def error(self, message: str):
        self.exit(2, f"lth-tui: error: {message}; see `lth-tui --help`\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = _Parser(
        prog="lth-tui",
        description="Watch a lottery-ticket run and step through it round by round. With --preset "
        "or --config (the experiment options of `lth-tf run`) the run starts at once, in step mode.",
    )
    options.add_experiment_options(p)
    p.add_argument("--out", default="checkpoints", help="where run directories go (default: checkpoints/)")
    options.add_data_dir_option(p)
    p.add_argument("--attach", metavar="RUN_DIR", help="follow a run directory (replays a finished run), or a sweep directory")
    return p.parse_args(argv)


def log_path() -> Path:
    """Where the TUI's own log and TensorFlow's native messages go."""
    return cache_dir() / "lth-tui.log"


def divert_native_stderr(path: Path) -> int | None:
    """Keep TensorFlow's C++ logging off the screen; returns the terminal's descriptor.

    TensorFlow's C++ code writes straight to file descriptor 2 (TF_CPP_MIN_LOG_LEVEL
    does not silence absl's start-up lines), and Textual draws on sys.__stderr__,
    which is descriptor 2 as well. So Textual gets a duplicate of the terminal and
    descriptor 2 goes to a log file.
    """
    if not os.isatty(2):
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    terminal = os.dup(2)
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    stream = os.fdopen(os.dup(terminal), "w", buffering=1, encoding="utf-8", errors="replace")
    sys.__stderr__ = sys.stderr = stream
    return terminal


def restore_stderr(terminal: int | None) -> None:
    if terminal is not None:
        os.dup2(terminal, 2)
        os.close(terminal)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Mistakes on the command line get the CLI treatment: one line, exit code 2.
    overrides = options.overrides(args)
    try:
        options.check_data_dir(args.data_dir)
        if args.attach and (args.preset or args.config):
            given = "--preset NAME" if args.preset else "--config FILE"
            raise LthError(f"give either --attach RUN_DIR or {given}, not both")
        if args.attach and not is_sweep_dir(Path(args.attach)):
            rundir.existing(args.attach)
        elif args.preset or args.config or overrides:
            C.resolve(args.preset, args.config, overrides)
    except LthError as e:
        print(f"lth-tui: {e}", file=sys.stderr)
        return 2
    path = log_path()
    terminal = None
    try:
        terminal = divert_native_stderr(path)
        logging.basicConfig(filename=path, level=logging.INFO,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
    except OSError:
        pass  # no log file: TensorFlow's messages may show up on the screen
    app = LthApp(args.preset, overrides, args.out, args.data_dir, args.attach, config=args.config)
    try:
        app.run()
    finally:
        restore_stderr(terminal)
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
