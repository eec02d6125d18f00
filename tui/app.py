"""lth-tui: the App and the `lth-tui` console script.

    lth-tui                                   pick a preset, then step through the run
    lth-tui --preset smoke [--set k=v ...]    straight to the run, in step mode
    lth-tui --attach checkpoints/RUN          follow (or replay) a run directory
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from textual.app import App

from lth_tf import config as C
from lth_tf.errors import LthError
from tui.screens import RunScreen, StartScreen
from tui.worker import check_run_dir


class LthApp(App):
    """Start screen, or a run screen straight away (--preset / --attach)."""

    CSS_PATH = "app.tcss"
    TITLE = "lth-tui"

    def __init__(
        self,
        preset: str | None = None,
        overrides: list[str] | tuple[str, ...] = (),
        out: str | Path = "checkpoints",
        data_dir: str | Path | None = None,
        attach: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.preset, self.overrides = preset, list(overrides)
        self.out, self.data_dir, self.attach = str(out), data_dir, attach

    def on_mount(self) -> None:
        if self.attach is not None:
            try:
                run_dir = check_run_dir(self.attach)
            except LthError as e:
                self.push_screen(StartScreen(self.overrides, self.out, self.data_dir, error=str(e)))
                return
            self.push_screen(RunScreen(attach=run_dir))
        elif self.preset is not None:
            try:
                exp = C.resolve(self.preset, overrides=self.overrides)
            except LthError as e:  # show the form with the message instead
                self.push_screen(
                    StartScreen(self.overrides, self.out, self.data_dir, self.preset, error=str(e))
                )
                return
            self.push_screen(RunScreen(exp=exp, out=self.out, data_dir=self.data_dir))
        else:
            self.push_screen(StartScreen(self.overrides, self.out, self.data_dir))

    async def action_quit(self) -> None:
        """ctrl+q: on a run screen, stop training cleanly first."""
        if isinstance(self.screen, RunScreen):
            self.screen.action_quit_run()
        else:
            self.exit()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="lth-tui", description="Watch a lottery-ticket run and step through it round by round."
    )
    p.add_argument("--preset", help="start this preset at once, in step mode (see `lth-tf presets`)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set prune.rate=0.3 (repeatable)")
    p.add_argument("--out", default="checkpoints", help="where run directories go (default: checkpoints/)")
    p.add_argument("--data-dir", default=None, help="data folder (default: $LTH_DATA_DIR or download)")
    p.add_argument("--attach", metavar="RUN_DIR", help="follow a run directory (replays a finished run)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Mistakes on the command line get the CLI treatment: one line, exit code 2.
    try:
        if args.attach and args.preset:
            raise LthError("give either --attach RUN_DIR or --preset NAME, not both")
        if args.attach:
            check_run_dir(args.attach)
        elif args.preset:
            C.resolve(args.preset, overrides=args.overrides)
        elif args.overrides:
            C.resolve(None, overrides=args.overrides)
    except LthError as e:
        print(f"lth-tui: {e}", file=sys.stderr)
        return 2
    app = LthApp(args.preset, args.overrides, args.out, args.data_dir, args.attach)
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
