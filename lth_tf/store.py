"""The run directory: per-round checkpoints written atomically, and resume.

Layout (see ../shared/docs/contract.md):

    RUN_DIR/config.toml      the resolved config; its hash must match to resume
    RUN_DIR/events.jsonl     appended by the event sink
    RUN_DIR/summary.json     rewritten after every round
    RUN_DIR/rewind.npz       the rewind point (weights at step k of round 0)
    RUN_DIR/rounds/NNN/      weights.npz, masks.npz, metrics.json
    RUN_DIR/controls/KIND-NNN/metrics.json
    RUN_DIR/ticket/          SavedModel of the winning ticket

A round directory is first written under a temporary name and renamed into
place, so it either exists complete or not at all; a crash mid-round leaves
only a temporary folder, which the next run removes. No TensorFlow here.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

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


# -- atomic writes -------------------------------------------------------------------
def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; files in a run dir get the
# permissions any other new file would (0o666 less the umask), like the SavedModel.
_FILE_MODE = 0o666 & ~_read_umask()


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, _FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def save_arrays(path: Path, arrays: list[np.ndarray] | dict[str, np.ndarray]) -> None:
    """Save a list (kept in order) or a dict of arrays as .npz, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(arrays, dict):
        payload = {f"k:{k}": np.asarray(v) for k, v in arrays.items()}
    else:
        payload = {f"i:{i:05d}": np.asarray(v) for i, v in enumerate(arrays)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, _FILE_MODE)
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_arrays(path: Path) -> list[np.ndarray] | dict[str, np.ndarray]:
    """Inverse of save_arrays. Raises LthError if the file is missing or corrupt."""
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = sorted(z.files)
            if keys and all(k.startswith("i:") for k in keys):
                return [z[k] for k in keys]
            return {k[2:]: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise LthError(
            f"checkpoint file {path} is missing or corrupt ({type(e).__name__}); "
            f"delete its folder to recompute it, or start a new run with another --out"
        ) from None


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
        first = path.read_text(encoding="utf-8").splitlines()[:1]
        if first and first[0].startswith("# config_hash = "):
            return first[0].split("=", 1)[1].strip()
        return None

    # rounds
    def completed_rounds(self) -> list[int]:
        """Rounds whose checkpoint is complete (read-only: safe while a run writes)."""
        base = rounds_dir(self.run_dir)
        if not base.exists():
            return []
        done = []
        for child in base.iterdir():
            # ".NNN.tmp" folders are rounds being written (by this or another
            # process) or left by a crash; listing never deletes them, and
            # save_round clears a stale one before it writes that round again.
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
        tmp = final.parent / f".{final.name}.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        save_arrays(tmp / WEIGHTS_FILE, weights)
        save_arrays(tmp / MASKS_FILE, masks)
        write_json_atomic(tmp / METRICS_FILE, metrics)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        return final

    def load_round(self, r: int) -> tuple[list[np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
        d = round_dir(self.run_dir, r)
        weights = load_arrays(d / WEIGHTS_FILE)
        masks = load_arrays(d / MASKS_FILE)
        metrics = self.round_metrics(r)
        if not isinstance(weights, list) or not isinstance(masks, dict):
            raise LthError(f"checkpoint {d} has an unexpected layout; delete it to recompute the round")
        return weights, masks, metrics

    def round_metrics(self, r: int) -> dict[str, Any]:
        return _read_json(round_dir(self.run_dir, r) / METRICS_FILE)

    # controls
    def save_control(self, kind: str, r: int, metrics: dict[str, Any]) -> None:
        write_json_atomic(control_dir(self.run_dir, kind, r) / METRICS_FILE, metrics)

    def control_metrics(self, kind: str, r: int) -> dict[str, Any] | None:
        path = control_dir(self.run_dir, kind, r) / METRICS_FILE
        return _read_json(path) if path.exists() else None

    def all_controls(self) -> list[dict[str, Any]]:
        base = self.run_dir / "controls"
        if not base.exists():
            return []
        out = []
        for child in sorted(base.iterdir()):
            if (child / METRICS_FILE).exists():
                out.append(_read_json(child / METRICS_FILE))
        return out

    # rewind point
    def save_rewind(self, weights: list[np.ndarray]) -> None:
        save_arrays(rewind_path(self.run_dir), weights)

    def load_rewind(self) -> list[np.ndarray]:
        w = load_arrays(rewind_path(self.run_dir))
        if not isinstance(w, list):
            raise LthError(f"{rewind_path(self.run_dir)} has an unexpected layout; delete the run dir")
        return w

    # summary
    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json_atomic(summary_path(self.run_dir), summary)

    def read_summary(self) -> dict[str, Any] | None:
        path = summary_path(self.run_dir)
        return _read_json(path) if path.exists() else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise LthError(
            f"checkpoint file {path} is missing or corrupt ({type(e).__name__}); "
            f"delete its folder to recompute it"
        ) from None
