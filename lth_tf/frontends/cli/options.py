"""The experiment options `lth-tf run`, `lth-tf sweep` and `lth-tui` share, and their checks.

    --preset NAME  --config FILE.toml  --set KEY=VALUE ...  --rounds N  --seed S
    --data-dir DIR
    --no-timing    (`lth-tf export`, `run` and `sweep` only: the exports they write are not timed)

One definition, so the three commands take the same options with the same
meaning (`--rounds N` and `--seed S` are `--set prune.rounds=N` and `--set
seed=S`) and refuse a bad `--data-dir` with the same line. Pure Python: the
commands check their arguments here before TensorFlow loads.

An experiment is named by a preset, a config file, or a model and data on the
defaults of lth_tf/core/config/schema.py (`--set model.name=tiny_cnn --set
data.name=synthetic_images`, or `model.name=file:my.keras --set
data.name=folder:photos`); with none of these the commands stop with NO_EXPERIMENT.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lth_tf.core import config as C
from lth_tf.core.errors import LthError

NO_EXPERIMENT = (
    "no experiment given; pass --preset NAME (see `lth-tf presets`), --config FILE, or a model and "
    "data on the defaults, e.g. --set model.name=tiny_cnn --set data.name=synthetic_images"
)
# Without a preset or a config file, these two settings name an experiment on the defaults.
EXPERIMENT_KEYS = ("model.name", "data.name")


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


def add_no_timing_option(p: argparse.ArgumentParser, whose: str = "the exported ticket's") -> None:
    """--no-timing (`export`, `run`, `sweep`): the export is written without timing it. Not a
    setting of the experiment (neither in config.toml nor in the run's hash), as --no-export."""
    p.add_argument("--no-timing", action="store_true",
                   help=f"do not measure {whose} latency (a few seconds; the marker then "
                        "records latency null with the reason)")


def overrides(args: argparse.Namespace, *, seed: bool = True) -> list[str]:
    """The --set items, then --rounds and (unless `seed` is False) --seed as the items they stand for."""
    items = list(args.overrides)
    if args.rounds is not None:
        items.append(f"prune.rounds={args.rounds}")
    if seed and args.seed is not None:
        items.append(f"seed={args.seed}")
    return items


def sets_model_and_data(items: list[str] | tuple[str, ...]) -> bool:
    """True when the --set items give both model.name and data.name (an experiment on the defaults)."""
    keys = {item.partition("=")[0].strip() for item in items}
    return all(k in keys for k in EXPERIMENT_KEYS)


def names_experiment(args: argparse.Namespace) -> bool:
    """--preset, --config, or --set model.name=... and --set data.name=... (the defaults for the rest)."""
    return bool(args.preset or args.config or sets_model_and_data(args.overrides))


def require_experiment(args: argparse.Namespace) -> None:
    """LthError (NO_EXPERIMENT, naming the fix) unless the options name an experiment."""
    if not names_experiment(args):
        raise LthError(NO_EXPERIMENT)


def experiment_from_args(args: argparse.Namespace) -> C.Experiment:
    """The experiment the options name (preset or the defaults, then config file, then overrides);
    LthError if none (see `names_experiment`)."""
    require_experiment(args)
    return C.resolve(args.preset, args.config, overrides(args))


def check_data_dir(path: str | None) -> str | None:
    """`path` unchanged if it is None or a folder (`~` is expanded, as the loaders do); else LthError."""
    if path is not None and not Path(path).expanduser().is_dir():
        raise LthError(
            f"--data-dir {path} is not a folder; point it at a folder laid out like shared/data"
        )
    return path
