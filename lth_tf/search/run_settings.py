"""The speed settings a run trains with: what it started with, else chosen now for this CPU.

    chosen = run_settings.for_run(exp, run_dir)   # before TensorFlow loads: oneDNN is read then
    platform = Platform.from_settings(exp.train, placement, chosen)

A resumed run keeps the settings recorded when it started (RUN_DIR/runtime.json,
`rundir.recorded_runtime`), on whatever machine it resumes; a new run gets the
user's settings, this machine's `lth-tf tune` winner for the workload
(lth_tf/platform/tune_cache.py) or the rule table (lth_tf/platform/speed.py), in
that order. `LotterySearch` writes the choice into the run directory when it claims
it. Pure (config, run-directory reads, the cache file): the CLI and the TUI call it
before TensorFlow loads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.platform import speed, tune_cache
from lth_tf.storage import rundir


def recorded(run_dir: Path | None) -> dict[str, speed.Choice] | None:
    """The settings the run in `run_dir` started with, or None (a new run, or none recorded)."""
    if run_dir is None:
        return None
    raw = rundir.recorded_runtime(Path(run_dir))
    if raw is None:
        return None
    try:
        return speed.recorded_choices(raw)
    except ValueError as e:
        raise LthError(f"{rundir.runtime_path(Path(run_dir))}: {e}; delete it to have the run choose its "
                       "speed settings again") from None


def for_run(
    exp: C.Experiment,
    run_dir: Path | None,
    cpu: speed.Cpu | None = None,
    env: Mapping[str, str] | None = None,
    cache_file: Path | None = None,
) -> speed.Settings:
    """The speed settings of `exp`'s run in `run_dir` (None: no run directory).

    `cpu`, `env` and `cache_file` default to this machine's, os.environ and the
    user's tune cache (tests pass their own).
    """
    cpu = cpu or speed.Cpu.read()
    workload = speed.Workload.of(exp)
    started = recorded(run_dir)
    tuned = tune_cache.lookup(cpu, workload, cache_file)
    return speed.choose(exp.train, workload, cpu, os.environ if env is None else env, tuned, started)
