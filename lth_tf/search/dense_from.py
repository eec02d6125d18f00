"""`--dense-from RUN_DIR`: take a new run's round 0 from another run instead of training it.

Every run trains the same dense network first (round 0); runs that differ only in
how they prune afterwards can share it, as OpenLTH shares its pretraining step.
This module decides whether they may: pure Python (config and run-dir reads, no
TensorFlow, no numpy), so the CLI refuses a bad source before TF loads and before
any run directory exists. `lth_tf/search/dense_copy.py` then copies the round.

Reuse is allowed only when every setting round 0 depends on is equal. The keys
that may differ are listed once, in `ROUND0_FREE`, each with the reason it does
not reach round 0; any other key (data, model, train, seed, prune.exclude) must be
equal, and so must what a file:/py:/folder: source points at (its fingerprint).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lth_tf.core import config as C
from lth_tf.core import rewind, sources
from lth_tf.core.errors import LthError
from lth_tf.storage import rundir, store

# Keys whose value round 0 never reads, so a source run may hold another value.
# Checked against lth_tf/search/engine.py (run_round with r == 0, _schedule), plan.py and
# pruning/step.py; tests/test_dense_from.py checks every key here exists.
ROUND0_FREE: dict[str, str] = {
    "preset": "a label: not hashed, not read by training",
    "prune.rounds": "how many pruned rounds follow; round 0's target sparsity is 0",
    "prune.rate": "the pruning step between rounds (pruning/step.py), first used by round 1",
    "prune.rate_schedule": "per-round rates of rounds >= 1",
    "prune.scope": "the pruning step only",
    "prune.layer_rates": "the pruning step only",
    "prune.one_shot": "round 1 prunes round 0's weights once; round 0 itself is unchanged",
    "prune.controls": "controls train after the rounds, from rounds >= 1",
    "prune.control_rounds": "which rounds >= 1 get controls",
    "prune.tolerance": "winner picking in the summary",
    "prune.structure": (
        "round 0 trains with all-ones masks either way; the two round-0 metrics that depend "
        "on it (channel_sparsity, the narrowed ticket size) are recomputed by round_metrics.served"
    ),
    "prune.early_bird": "Plan.stops_early(0) is False: round 0 always trains in full",
    "prune.eb_distance": "early-bird only, rounds >= 1",
    "prune.eb_window": "early-bird only, rounds >= 1",
    "train.finetune_lr": "the constant rate of rewind=finetune rounds >= 1 (engine._schedule)",
    "distill.enabled": "round 0 is the teacher and trains without one (engine._schedule(0))",
    "distill.alpha": "KD loss of rounds >= distill.from_round >= 1",
    "distill.temperature": "KD loss of rounds >= distill.from_round >= 1",
    "distill.from_round": "validated >= 1: never round 0",
    "distill.all_nodes": "KD loss of rounds >= 1",
}
# prune.rewind is free too, except that a run rewinding to a snapshot of round 0
# (init, step:K) needs the source to have taken the same one: see `_rewind_problem`.
REWIND_KEY = "prune.rewind"


@dataclass(frozen=True)
class DenseSource:
    """A run whose completed round 0 a new run may take (made only by `check`)."""

    run_dir: Path
    config_hash: str
    copy_rewind: bool  # the new run rewinds to a snapshot: copy the source's rewind point

    def note(self) -> dict[str, str]:
        """What round 0's metrics and round_finished event record as `reused_from`."""
        return {"run_dir": str(self.run_dir), "config_hash": self.config_hash}


def read_source(path: str | Path, flag: str = "--dense-from") -> tuple[Path, C.Experiment]:
    """The source run dir and its experiment; LthError unless it holds a completed round 0."""
    try:
        run_dir = rundir.existing(path)
        src = rundir.read_experiment(run_dir)
    except LthError as e:
        raise LthError(f"{flag}: {e}") from None
    if 0 not in rundir.completed_rounds(run_dir):
        raise LthError(
            f"{flag}: {run_dir} has no completed round 0 (still running, or stopped in "
            f"round 0); let it finish round 0 or drop {flag}"
        )
    check_files(run_dir, flag)
    return run_dir.resolve(), src


def check_files(run_dir: Path, flag: str = "--dense-from") -> None:
    """Read the source's round 0 and rewind point, so a damaged one fails before any work.

    The advice is for this command (drop the flag) and for the source (repaired by the
    command that made it, never by this one), not the store's "rerun the same command".
    """
    round0 = rundir.round_dir(run_dir, 0)
    remedy = (
        f"drop {flag} to train round 0 in this run, or repair the source: delete {round0} "
        f"and rerun the command that made {run_dir}"
    )
    for name in (rundir.WEIGHTS_FILE, rundir.MASKS_FILE):
        store.load_arrays(round0 / name, remedy)
    rundir.read_json(round0 / rundir.METRICS_FILE, remedy, rundir.REQUIRED_ROUND_KEYS)
    rewind_point = rundir.rewind_path(run_dir)
    if rewind_point.exists():
        store.load_arrays(rewind_point, remedy.replace(f"delete {round0}", f"delete {rewind_point} and {round0}"))


def settings(exp: C.Experiment) -> dict[str, Any]:
    """Every setting as `section.field -> value`, plus what user sources point at."""
    out: dict[str, Any] = {"seed": exp.seed, "preset": exp.preset, **exp.values_by_key()}
    for key, name in (("model", exp.model.name), ("data", exp.data.name)):
        digest = sources.fingerprint(name)
        if digest is not None:  # a changed model file or image folder is another round 0
            out[f"{key} source (file digest)"] = digest[:12]
    return out


def differences(exp: C.Experiment, src: C.Experiment) -> list[tuple[str, Any, Any]]:
    """(key, this run's value, the source's) for every setting round 0 depends on that differs."""
    mine, theirs = settings(exp), settings(src)
    keys = sorted(set(mine) | set(theirs))
    return [
        (k, mine.get(k), theirs.get(k))
        for k in keys
        if k not in ROUND0_FREE and k != REWIND_KEY and mine.get(k) != theirs.get(k)
    ]


def _rewind_problem(exp: C.Experiment, src: C.Experiment) -> str | None:
    """Why the source's rewind point cannot serve this run, or None.

    The snapshot is taken while round 0 trains and is not stored with its step, so
    a run that rewinds to one (init = step 0, step:K) needs a source that took the
    same step; lr and finetune rounds start from round r-1 and need none.
    """
    want, have = rewind.parse(exp.prune.rewind), rewind.parse(src.prune.rewind)
    if not want.uses_snapshot or have.snapshot_step == want.snapshot_step:
        return None
    return f"{REWIND_KEY} {exp.prune.rewind!r} needs round 0's snapshot at that step, the source took {src.prune.rewind!r}"


# Speed settings that change what round 0 computes: the source must have trained with the
# values this run chose (its config may say "auto" and have resolved on another CPU).
SPEED_KEYS = ("precision", "jit_compile")


def speed_differences(speed: dict[str, Any] | None, run_dir: Path) -> list[tuple[str, Any, Any]]:
    """(train.key, this run's value, the source's) for the precision and XLA setting the
    source recorded (runtime.json) when they differ from `speed`, this run's chosen values."""
    recorded = rundir.recorded_runtime(run_dir) or {}
    return [
        (f"train.{k}", speed[k], recorded[k]["value"])
        for k in SPEED_KEYS
        if speed is not None and k in speed and isinstance(recorded.get(k), dict)
        and recorded[k].get("value") != speed[k]
    ]


def check(exp: C.Experiment, path: str | Path, seen_as=None, flag: str = "--dense-from",
          speed: dict[str, Any] | None = None) -> DenseSource:
    """The source at `path` if its round 0 is the one `exp` would train, else one-line LthError.

    `seen_as(src_exp)`, if given, maps the source's experiment before comparing
    (the Python API puts back the names of its run-local model file and data).
    `flag` names the option in messages (the API's keyword is dense_from).
    `speed`: this run's chosen speed settings (`speed.Settings.values()`); the source
    must have trained round 0 with the same precision and XLA setting.
    """
    run_dir, src = read_source(path, flag)
    compared = seen_as(src) if seen_as is not None else src
    diffs = differences(exp, compared) + speed_differences(speed, run_dir)
    if diffs:
        listed = "; ".join(f"{k} = {a!r} here, {b!r} in the source" for k, a, b in diffs)
        raise LthError(
            f"{flag} {run_dir}: round 0 would differ ({listed}); use the source's values "
            f"or drop {flag} (only prune and distill settings of later rounds may differ)"
        )
    problem = _rewind_problem(exp, compared)
    if problem:
        raise LthError(f"{flag} {run_dir}: {problem}; use its rewind or drop {flag}")
    return DenseSource(run_dir, rundir.stored_hash(run_dir) or src.hash(), rewind.parse(exp.prune.rewind).uses_snapshot)
