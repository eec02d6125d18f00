"""The run directory: per-round checkpoints written atomically, and resume.

Layout (see ../shared/docs/contract.md):

    RUN_DIR/config.toml      the resolved config; its hash must match to resume
    RUN_DIR/events.jsonl     appended by the event sink
    RUN_DIR/summary.json     rewritten after every round
    RUN_DIR/rewind.npz       the rewind point (weights at step k of round 0)
    RUN_DIR/rounds/NNN/      weights.npz, masks.npz, metrics.json
    RUN_DIR/controls/KIND-NNN/metrics.json
    RUN_DIR/ticket/          SavedModel of the winning ticket (with lth-tf's export marker)
    RUN_DIR/lock             held (flock) by the process running the run; pid, host, start

A round directory is first written under a temporary name and renamed into
place, so it either exists complete or not at all; a crash mid-round leaves
only a temporary folder, which the next process to take the run's lock removes
(`RunStore.lock`). No TensorFlow here.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from lth_tf import atomic
from lth_tf import lock as run_lock
from lth_tf.errors import LthError

WEIGHTS_FILE = "weights.npz"
MASKS_FILE = "masks.npz"
METRICS_FILE = "metrics.json"


# -- path functions: the one place file names are spelled ------------------------------
def config_path(run_dir: Path) -> Path:
    return run_dir / "config.toml"


def events_path(run_dir: Path) -> Path:
    return run_dir / "events.jsonl"


def summary_path(run_dir: Path) -> Path:
    return run_dir / "summary.json"


def rewind_path(run_dir: Path) -> Path:
    return run_dir / "rewind.npz"


def rounds_dir(run_dir: Path) -> Path:
    return run_dir / "rounds"


def round_dir(run_dir: Path, r: int) -> Path:
    return rounds_dir(run_dir) / f"{r:03d}"


def control_dir(run_dir: Path, kind: str, r: int) -> Path:
    return run_dir / "controls" / f"{kind}-{r:03d}"


def ticket_dir(run_dir: Path) -> Path:
    return run_dir / "ticket"


def tensorboard_dir(run_dir: Path) -> Path:
    return run_dir / "tensorboard"


def lock_path(run_dir: Path) -> Path:
    return run_dir / "lock"


# -- atomic writes (lth_tf/atomic.py; re-exported for the modules that write run files) --
write_text_atomic = atomic.write_text_atomic
write_json_atomic = atomic.write_json_atomic


def save_arrays(path: Path, arrays: list[np.ndarray] | dict[str, np.ndarray]) -> None:
    """Save a list (kept in order) or a dict of arrays as .npz, atomically."""
    if isinstance(arrays, dict):
        payload = {f"k:{k}": np.asarray(v) for k, v in arrays.items()}
    else:
        payload = {f"i:{i:05d}": np.asarray(v) for i, v in enumerate(arrays)}
    atomic.write_bytes_atomic(path, lambda f: np.savez(f, **payload))


def load_arrays(path: Path, remedy: str) -> list[np.ndarray] | dict[str, np.ndarray]:
    """Inverse of save_arrays. Raises LthError if the file is missing or corrupt.

    `remedy` says what to delete to recompute it (see `_corrupt`).
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = sorted(z.files)
            if keys and all(k.startswith("i:") for k in keys):
                return [z[k] for k in keys]
            return {k[2:]: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise _corrupt(path, type(e).__name__, remedy) from None


def _corrupt(path: Path, why: str, remedy: str) -> LthError:
    """The one-line error for a damaged file of a run; `remedy` names exactly what to delete."""
    return LthError(f"checkpoint file {path} is missing or corrupt ({why}); {remedy}")


def _round_remedy(run_dir: Path, r: int) -> str:
    return (
        f"delete {round_dir(run_dir, r)} (that round only) and rerun the same command "
        "to recompute it"
    )


def _rewind_remedy(run_dir: Path) -> str:
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


def corrupt_summary(run_dir: Path, why: str) -> LthError:
    """The error for a summary.json that is not what lth-tf writes (for its readers)."""
    return _corrupt(summary_path(run_dir), why, _summary_remedy(run_dir))


ROUND_KEYS = ("round", "sparsity", "val_acc", "test_acc")
CONTROL_KEYS = ("kind", "round", "sparsity", "val_acc", "test_acc")


# -- the store --------------------------------------------------------------------------
class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)

    # config identity
    def claim(self, config_toml: str, config_hash: str) -> bool:
        """Create the run dir for this config, or check it belongs to it.

        Returns True when the directory already held this config (a resume).
        A directory holding another config is never overwritten.
        """
        path = config_path(self.run_dir)
        if path.exists():
            stored = self.stored_hash()
            if stored != config_hash:
                raise LthError(
                    f"{self.run_dir} holds a different experiment (config hash {stored}, "
                    f"this one {config_hash}); choose another --out or rerun its own config.toml"
                )
            return True
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, f"# config_hash = {config_hash}\n{config_toml}")
        return False

    def stored_hash(self) -> str | None:
        path = config_path(self.run_dir)
        if not path.exists():
            return None
        with open(path, "rb") as f:  # bytes: a damaged file must not raise UnicodeDecodeError
            first = f.readline(200).decode("utf-8", errors="replace").strip()
        if first.startswith("# config_hash = "):
            return first.split("=", 1)[1].strip()
        return None

    # exclusive use
    def lock(self) -> run_lock.RunLock:
        """Take the run's lock (LthError naming the holder if another process has it),
        then remove the temporary files and folders killed writers left behind.

        Use as `with store.lock(): ...` around everything that writes the run.
        """
        held = run_lock.acquire(lock_path(self.run_dir), self.run_dir)
        try:
            self.clean_leftovers()
        except BaseException:
            held.release()
            raise
        return held

    def check_unlocked(self) -> None:
        """LthError naming the holder if another process runs this directory (writes nothing)."""
        run_lock.check_free(lock_path(self.run_dir), self.run_dir)

    def clean_leftovers(self) -> list[Path]:
        """Temporary files and folders of killed writers (ours by exact name; see atomic.py)."""
        folders = [self.run_dir, rounds_dir(self.run_dir), self.run_dir / "controls"]
        controls = self.run_dir / "controls"
        if controls.is_dir():
            folders += [c for c in sorted(controls.iterdir()) if c.is_dir()]
        return atomic.clean_leftovers(folders, legacy=True)

    # rounds
    def completed_rounds(self) -> list[int]:
        """Rounds whose checkpoint is complete (read-only: safe while a run writes)."""
        base = rounds_dir(self.run_dir)
        if not base.exists():
            return []
        done = []
        for child in base.iterdir():
            # Temporary folders are rounds being written (by this or another
            # process) or left by a crash; listing never deletes them (the
            # holder of the run's lock does, see `lock`).
            if child.name.isdigit() and (child / METRICS_FILE).exists():
                done.append(int(child.name))
        done.sort()
        # Rounds must be contiguous from 0: a gap means someone deleted a folder;
        # everything after the gap is recomputed from the last good round.
        contiguous = []
        for i, r in enumerate(done):
            if r != i:
                break
            contiguous.append(r)
        return contiguous

    def save_round(
        self,
        r: int,
        weights: list[np.ndarray],
        masks: dict[str, np.ndarray],
        metrics: dict[str, Any],
    ) -> Path:
        final = round_dir(self.run_dir, r)
        tmp = atomic.temp_dir(final.parent, final.name)
        try:
            save_arrays(tmp / WEIGHTS_FILE, weights)
            save_arrays(tmp / MASKS_FILE, masks)
            write_json_atomic(tmp / METRICS_FILE, metrics)
            if final.exists():  # a round recomputed after a gap: ours, replaced whole
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def load_round(self, r: int) -> tuple[list[np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
        d, remedy = round_dir(self.run_dir, r), _round_remedy(self.run_dir, r)
        weights = load_arrays(d / WEIGHTS_FILE, remedy)
        masks = load_arrays(d / MASKS_FILE, remedy)
        metrics = self.round_metrics(r)
        if not isinstance(weights, list):
            raise _corrupt(d / WEIGHTS_FILE, "unexpected layout", remedy)
        if not isinstance(masks, dict):
            raise _corrupt(d / MASKS_FILE, "unexpected layout", remedy)
        return weights, masks, metrics

    def round_metrics(self, r: int) -> dict[str, Any]:
        path = round_dir(self.run_dir, r) / METRICS_FILE
        return _read_json(path, _round_remedy(self.run_dir, r), required=ROUND_KEYS)

    # controls
    def save_control(self, kind: str, r: int, metrics: dict[str, Any]) -> None:
        write_json_atomic(control_dir(self.run_dir, kind, r) / METRICS_FILE, metrics)

    def control_metrics(self, kind: str, r: int) -> dict[str, Any] | None:
        path = control_dir(self.run_dir, kind, r) / METRICS_FILE
        if not path.exists():
            return None
        return _read_json(path, _control_remedy(path.parent), required=CONTROL_KEYS)

    def all_controls(self) -> list[dict[str, Any]]:
        base = self.run_dir / "controls"
        if not base.exists():
            return []
        out = []
        for child in sorted(base.iterdir()):
            if (child / METRICS_FILE).exists():
                path = child / METRICS_FILE
                out.append(_read_json(path, _control_remedy(child), required=CONTROL_KEYS))
        return out

    # rewind point
    def save_rewind(self, weights: list[np.ndarray]) -> None:
        save_arrays(rewind_path(self.run_dir), weights)

    def load_rewind(self) -> list[np.ndarray]:
        path, remedy = rewind_path(self.run_dir), _rewind_remedy(self.run_dir)
        w = load_arrays(path, remedy)
        if not isinstance(w, list):
            raise _corrupt(path, "unexpected layout", remedy)
        return w

    # summary
    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json_atomic(summary_path(self.run_dir), summary)

    def read_summary(self) -> dict[str, Any] | None:
        """The summary as written (a dict), None if there is none yet; LthError if damaged.

        Only the top level is checked here; `report.check_summary` checks its fields.
        """
        path = summary_path(self.run_dir)
        return _read_json(path, _summary_remedy(self.run_dir)) if path.exists() else None



def _control_remedy(folder: Path) -> str:
    return f"delete {folder} (that control only) and rerun the same command to recompute it"


def _read_json(path: Path, remedy: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON object from `path` holding the `required` keys, or LthError with `remedy`."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _corrupt(path, type(e).__name__, remedy) from None
    if not isinstance(data, dict):
        raise _corrupt(path, f"a JSON {type(data).__name__}, not an object", remedy)
    missing = [k for k in required if k not in data]
    if missing:
        raise _corrupt(path, f"no {', '.join(repr(k) for k in missing)}", remedy)
    return data
