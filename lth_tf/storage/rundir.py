"""The run directory's layout and read-only access to it: the one place its names live.

    RUN_DIR/config.toml      the resolved config; its first line records its hash
    RUN_DIR/runtime.json     the speed settings the run started with (a resume keeps them)
    RUN_DIR/events.jsonl     appended by the event sink
    RUN_DIR/summary.json     rewritten after every round
    RUN_DIR/rewind.npz       the rewind point (weights at step k of round 0)
    RUN_DIR/model.keras      theta0 of a user's model (Python API), written once
    RUN_DIR/rounds/NNN/      weights.npz, masks.npz, metrics.json
    RUN_DIR/controls/KIND-NNN/metrics.json
    RUN_DIR/ticket/          SavedModel of the winning ticket (with lth-tf's export marker)
    RUN_DIR/exports/round_NNN/  SavedModels the TUI exported on request
    RUN_DIR/tensorboard/round_NNN/
    RUN_DIR/report.md, accuracy.png   written by `lth-tf report`
    RUN_DIR/lock             held (flock) by the process running the run; pid, host, start

Every reader (CLI, TUI, report, export) goes through these functions; only
`store.RunStore` writes. Nothing here writes or deletes, so it is safe while a run
is in progress. No TensorFlow and no numpy here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lth_tf.core import config as C
from lth_tf.core import events as E
from lth_tf.core.errors import LthError
from lth_tf.core.paths import what_is

CONFIG_FILE = "config.toml"
RUNTIME_FILE = "runtime.json"
EVENTS_FILE = "events.jsonl"
SUMMARY_FILE = "summary.json"
REWIND_FILE = "rewind.npz"
MODEL_FILE = "model.keras"
ROUNDS_DIR = "rounds"
CONTROLS_DIR = "controls"
TICKET_DIR = "ticket"
EXPORTS_DIR = "exports"
TENSORBOARD_DIR = "tensorboard"
REPORT_FILE = "report.md"
PLOT_FILE = "accuracy.png"
PLOT_SVG_FILE = "accuracy.svg"  # the same figure as a vector file (for papers)
LOCK_FILE = "lock"
WEIGHTS_FILE = "weights.npz"
MASKS_FILE = "masks.npz"
METRICS_FILE = "metrics.json"

# Every name above: tests/test_rundir.py fails if a module other than this one spells one.
NAMES = (
    CONFIG_FILE, RUNTIME_FILE, EVENTS_FILE, SUMMARY_FILE, REWIND_FILE, MODEL_FILE, ROUNDS_DIR, CONTROLS_DIR,
    TICKET_DIR, EXPORTS_DIR, TENSORBOARD_DIR, REPORT_FILE, PLOT_FILE, PLOT_SVG_FILE, LOCK_FILE, WEIGHTS_FILE,
    MASKS_FILE, METRICS_FILE,
)

# Keys every stored metrics.json must hold (a file without one is damaged). summary.json's
# rounds carry these and more (summary.SUMMARY_ROUND_KEYS); its controls carry exactly these.
REQUIRED_ROUND_KEYS = ("round", "sparsity", "val_acc", "test_acc")
REQUIRED_CONTROL_KEYS = ("kind", "round", "sparsity", "val_acc", "test_acc")
_HASH_LINE = "# config_hash = "


# -- path functions ------------------------------------------------------------------------
def config_path(run_dir: Path) -> Path:
    return Path(run_dir) / CONFIG_FILE


def runtime_path(run_dir: Path) -> Path:
    return Path(run_dir) / RUNTIME_FILE


def events_path(run_dir: Path) -> Path:
    return Path(run_dir) / EVENTS_FILE


def summary_path(run_dir: Path) -> Path:
    return Path(run_dir) / SUMMARY_FILE


def rewind_path(run_dir: Path) -> Path:
    return Path(run_dir) / REWIND_FILE


def model_path(run_dir: Path) -> Path:
    return Path(run_dir) / MODEL_FILE


def rounds_dir(run_dir: Path) -> Path:
    return Path(run_dir) / ROUNDS_DIR


def round_dir(run_dir: Path, r: int) -> Path:
    return rounds_dir(run_dir) / f"{r:03d}"


def controls_dir(run_dir: Path) -> Path:
    return Path(run_dir) / CONTROLS_DIR


def control_dir(run_dir: Path, kind: str, r: int) -> Path:
    return controls_dir(run_dir) / f"{kind}-{r:03d}"


def ticket_dir(run_dir: Path) -> Path:
    return Path(run_dir) / TICKET_DIR


def export_dir(run_dir: Path, r: int) -> Path:
    """Where the TUI exports a round on request (ticket/ stays the winner's)."""
    return Path(run_dir) / EXPORTS_DIR / f"round_{r:03d}"


def tensorboard_dir(run_dir: Path, r: int | None = None) -> Path:
    base = Path(run_dir) / TENSORBOARD_DIR
    return base if r is None else base / f"round_{r:03d}"


def report_path(run_dir: Path) -> Path:
    return Path(run_dir) / REPORT_FILE


def plot_path(run_dir: Path) -> Path:
    return Path(run_dir) / PLOT_FILE


def plot_paths(run_dir: Path) -> list[Path]:
    """The report's figure as PNG and SVG."""
    return [Path(run_dir) / PLOT_FILE, Path(run_dir) / PLOT_SVG_FILE]


def lock_path(run_dir: Path) -> Path:
    return Path(run_dir) / LOCK_FILE


def format_hash_line(config_hash: str) -> str:
    """The first line of config.toml, which records the config's hash."""
    return f"{_HASH_LINE}{config_hash}\n"


# -- what a run directory is -----------------------------------------------------------------
def is_run_dir(path: str | Path) -> bool:
    """The one rule: a folder holding config.toml (the store writes it before anything else)."""
    return config_path(Path(path)).is_file()


def existing(path: str | Path) -> Path:
    """The run directory at `path`, or LthError saying what is wrong with it."""
    p = Path(path).expanduser()
    if not p.is_dir():
        if what_is(p) != "missing":
            raise LthError(
                f"{p} is {what_is(p)}, not a run directory; give the folder `lth-tf run` printed"
            )
        raise LthError(
            f"run directory not found: {p} does not exist; give the folder `lth-tf run` printed"
        )
    if not is_run_dir(p):
        raise LthError(
            f"{p} is not a run directory (no {CONFIG_FILE}); give the folder `lth-tf run` printed"
        )
    return p


def links(run_dir: Path) -> list[Path]:
    """The run's own names (and the entries of its folders) that are symbolic links.

    lth-tf writes and deletes only regular files and folders it made there; a link
    in their place (to a file outside the run, say) is refused, never followed.
    The run directory itself may be a link.
    """
    top = [run_dir / name for name in NAMES]
    found = [p for p in top if p.is_symlink()]
    for folder in (ROUNDS_DIR, CONTROLS_DIR, EXPORTS_DIR, TENSORBOARD_DIR):
        d = run_dir / folder
        if d.is_dir() and not d.is_symlink():
            found += [p for p in sorted(d.iterdir()) if p.is_symlink()]
            if folder == EXPORTS_DIR:
                # an export is swapped in whole, never written into: a user's link inside
                # one is theirs to keep (export/keep.py carries it into a re-export)
                continue
            found += [q for p in sorted(d.iterdir()) if p.is_dir() and not p.is_symlink()
                      for q in sorted(p.iterdir()) if q.is_symlink()]
    return found


def stored_hash(run_dir: Path) -> str | None:
    """The config hash recorded in config.toml, None without one."""
    path = config_path(run_dir)
    if what_is(path) != "a file":  # missing, or a FIFO/folder that is not ours to open
        return None
    with open(path, "rb") as f:  # bytes: a damaged file must not raise UnicodeDecodeError
        first = f.readline(200).decode("utf-8", errors="replace").strip()
    if first.startswith(_HASH_LINE):
        return first.split("=", 1)[1].strip()
    return None


def check_holds(run_dir: Path, config_hash: str) -> None:
    """LthError unless `run_dir` is new or already holds the config with this hash."""
    kind = what_is(config_path(run_dir))
    if kind == "missing":
        return
    if kind != "a file":
        raise LthError(f"{config_path(run_dir)} is {kind}, not the config file a run writes; "
                       "choose another --out or move it away")
    stored = stored_hash(run_dir)
    if stored != config_hash:
        raise LthError(
            f"{run_dir} holds a different experiment (config hash {stored}, "
            f"this one {config_hash}); choose another --out or rerun its own {CONFIG_FILE}"
        )
    check_unedited(run_dir)


def check_unedited(run_dir: Path) -> None:
    """LthError if config.toml no longer holds the settings its recorded hash names.

    A hand-edited config would otherwise be resumed (and reported finished) under
    the old hash, while export and compare, which read it, refuse the run.
    """
    path = config_path(run_dir)
    if hash_of_record(_stored_config(run_dir), stored_hash(run_dir)) is None:
        raise LthError(
            f"{path} was edited after the run wrote it (its settings no longer match the hash on its "
            "first line); restore the file the run wrote, or put the new settings in a config of "
            "your own (--config) and run that: a new run"
        )


def _stored_config(run_dir: Path) -> C.Experiment:
    """config.toml as written (validated), not checked against its hash."""
    path = config_path(run_dir)
    try:
        return C.resolve(config_file=path)
    except LthError as e:  # a value the config's checks refuse: say which file holds it
        raise LthError(str(e) if str(path) in str(e) else f"{path}: {e}") from None


def hash_of_record(exp: C.Experiment, stored: str) -> C.Experiment | None:
    """`exp` as the run it was written for, or None when it does not hash to `stored`.

    A config.toml written before "auto" became the default of the speed settings
    spells their old defaults out while its hash omitted them: it is that run's
    config read `as_auto()`.
    """
    for candidate in (exp, exp.as_auto()):
        if candidate.hash() == stored:
            return candidate
    return None


def read_experiment(run_dir: str | Path) -> C.Experiment:
    """The run's Experiment from its config.toml, checked against the recorded hash.

    A config.toml from before "auto" is read `as_auto()` (`hash_of_record`); the values
    it spelled out are then the run's record (`recorded_runtime`).
    """
    run_dir = existing(run_dir)
    stored = stored_hash(run_dir)
    exp = hash_of_record(_stored_config(run_dir), stored)
    if exp is None:
        raise LthError(
            f"{config_path(run_dir)} does not match its recorded hash ({stored}); "
            f"restore the {CONFIG_FILE} the run wrote, or export from the run's own folder"
        )
    return exp


def recorded_runtime(run_dir: Path) -> dict[str, Any] | None:
    """The speed settings the run started with, as `speed.Settings.to_dict` wrote them, or None.

    runtime.json when the run wrote one. A run started before runtime.json existed
    recorded its precision and XLA in config.toml (concrete values then: "auto" did
    not exist), so those two come from there. None for a new run, or a config saying
    "auto" with no runtime.json (the settings are then chosen again).
    """
    path = runtime_path(run_dir)
    if path.exists():
        return read_json(path, _runtime_remedy(run_dir))
    if not config_path(run_dir).exists():
        return None
    t = _stored_config(run_dir).train
    why = f"{CONFIG_FILE} of a run started before lth-tf recorded {RUNTIME_FILE}"
    found = {name: {"value": value, "source": "run", "reason": why}
             for name, value in (("precision", t.precision), ("jit_compile", t.jit_compile)) if value != C.AUTO}
    return found or None


def _runtime_remedy(run_dir: Path) -> str:
    return (f"restore it, or delete {runtime_path(run_dir)} to have the run choose its speed "
            "settings again when it resumes")


# -- rounds and controls -------------------------------------------------------------------
def completed_rounds(run_dir: Path) -> list[int]:
    """Rounds whose checkpoint is complete, contiguous from 0."""
    base = rounds_dir(run_dir)
    if not base.is_dir():
        return []
    # Temporary folders are rounds being written or left by a crash: skipped,
    # never deleted here (the holder of the run's lock does that).
    found = {
        int(c.name) for c in base.iterdir() if c.name.isdigit() and (c / METRICS_FILE).exists()
    }
    # A gap means someone deleted a folder; everything after it is recomputed.
    done: list[int] = []
    while len(done) in found:
        done.append(len(done))
    return done


def round_metrics(run_dir: Path, r: int) -> dict[str, Any]:
    return read_json(round_dir(run_dir, r) / METRICS_FILE, round_remedy(run_dir, r), REQUIRED_ROUND_KEYS)


def control_metrics(run_dir: Path, kind: str, r: int) -> dict[str, Any] | None:
    path = control_dir(run_dir, kind, r) / METRICS_FILE
    if not path.exists():
        return None
    return read_json(path, _control_remedy(path.parent), REQUIRED_CONTROL_KEYS)


def all_controls(run_dir: Path) -> list[dict[str, Any]]:
    base = controls_dir(run_dir)
    if not base.is_dir():
        return []
    return [
        read_json(c / METRICS_FILE, _control_remedy(c), REQUIRED_CONTROL_KEYS)
        for c in sorted(base.iterdir())
        if (c / METRICS_FILE).exists()
    ]


# -- summary and events ---------------------------------------------------------------------
def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The summary as written (a dict), None if there is none yet; LthError if damaged.

    Only the top level is checked here; `report.check_summary` checks its fields.
    """
    path = summary_path(run_dir)
    return read_json(path, _summary_remedy(run_dir)) if path.exists() else None


def corrupt_summary(run_dir: Path, why: str) -> LthError:
    """The error for a summary.json that is not what lth-tf writes (for its readers)."""
    return corrupt(summary_path(run_dir), why, _summary_remedy(run_dir))


def read_events(run_dir: Path) -> Iterator[E.Event]:
    """The complete events recorded so far (see `events.iter_events`)."""
    return E.iter_events(events_path(run_dir))


def follow_events(run_dir: Path, stop: threading.Event, poll: float = 0.2) -> Iterable[E.Event]:
    """The events recorded so far, then each one as it is appended, until `stop`."""
    return E.follow_events(events_path(run_dir), stop, poll=poll)


# -- damaged files ---------------------------------------------------------------------------
def corrupt(path: Path, why: str, remedy: str) -> LthError:
    """The one-line error for a damaged file of a run; `remedy` names exactly what to delete."""
    return LthError(f"checkpoint file {path} is missing or corrupt ({why}); {remedy}")


def round_remedy(run_dir: Path, r: int) -> str:
    return (
        f"delete {round_dir(run_dir, r)} (that round only) and rerun the same command "
        "to recompute it"
    )


def rewind_remedy(run_dir: Path) -> str:
    # The rewind point is a snapshot taken while round 0 trains: only retraining
    # round 0 rewrites it, and the rounds after it are then recomputed too.
    return (
        f"delete {rewind_path(run_dir)} and {round_dir(run_dir, 0)} and rerun the same "
        "command to recompute them"
    )


def _summary_remedy(run_dir: Path) -> str:
    return (
        f"delete {summary_path(run_dir)} and rerun the same `lth-tf run` command; "
        "it rewrites the summary from the stored rounds"
    )


def _control_remedy(folder: Path) -> str:
    return f"delete {folder} (that control only) and rerun the same command to recompute it"


def read_json(path: Path, remedy: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON object from `path` holding the `required` keys, or LthError with `remedy`."""
    kind = what_is(path)
    if kind not in ("a file", "missing"):  # a FIFO or device would block the reading
        raise corrupt(path, f"{kind}, not a file", remedy)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise corrupt(path, type(e).__name__, remedy) from None
    if not isinstance(data, dict):
        raise corrupt(path, f"a JSON {type(data).__name__}, not an object", remedy)
    missing = [k for k in required if k not in data]
    if missing:
        raise corrupt(path, f"no {', '.join(repr(k) for k in missing)}", remedy)
    return data
