"""The experiment options `lth-tf run`, `lth-tf sweep` and `lth-tui` share, and their checks.

    --preset NAME  --config FILE.toml  --set KEY=VALUE ...  --rounds N  --seed S
    --data-dir DIR

One definition, so the three commands take the same options with the same
meaning (`--rounds N` and `--seed S` are `--set prune.rounds=N` and `--set
seed=S`) and refuse a bad `--data-dir` with the same line. Pure Python: the
commands check their arguments here before TensorFlow loads.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lth_tf.core import config as C
from lth_tf.core.errors import LthError

NO_EXPERIMENT = "no experiment given; pass --preset NAME (see `lth-tf presets`) or --config FILE"


def add_experiment_options(p: argparse.ArgumentParser) -> None:
    """--preset, --config, --set, --rounds, --seed (read them with `overrides`)."""
    p.add_argument("--preset", default=None, help="a preset name (see `lth-tf presets`)")
    p.add_argument("--config", default=None, help="a TOML config layered over the preset")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--rounds", type=int, default=None, help="same as --set prune.rounds=N")
    p.add_argument("--seed", type=int, default=None)


def add_data_dir_option(p: argparse.ArgumentParser) -> None:
    """--data-dir (check it with `check_data_dir`)."""
    p.add_argument("--data-dir", default=None, help="offline data folder (else $LTH_DATA_DIR)")


def overrides(args: argparse.Namespace, *, seed: bool = True) -> list[str]:
    """The --set items, then --rounds and (unless `seed` is False) --seed as the items they stand for."""
    items = list(args.overrides)
    if args.rounds is not None:
        items.append(f"prune.rounds={args.rounds}")
    if seed and args.seed is not None:
        items.append(f"seed={args.seed}")
    return items


def require_experiment(args: argparse.Namespace) -> None:
    """LthError unless --preset or --config names an experiment."""
    if not args.preset and not args.config:
        raise LthError(NO_EXPERIMENT)


def experiment_from_args(args: argparse.Namespace) -> C.Experiment:
    """The experiment the options name (preset, then config file, then overrides); LthError if none."""
    require_experiment(args)
    return C.resolve(args.preset, args.config, overrides(args))


def check_data_dir(path: str | None) -> str | None:
    """`path` unchanged if it is None or a folder (`~` is expanded, as the loaders do); else LthError."""
    if path is not None and not Path(path).expanduser().is_dir():
        raise LthError(
            f"--data-dir {path} is not a folder; point it at a folder laid out like shared/data"
        )
    return path
