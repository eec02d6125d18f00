"""Writing the run directory: per-round checkpoints written atomically, and resume.

The layout and every read-only access are in `rundir.py` (see
../shared/docs/contract.md); `RunStore` is the only writer.
A round directory is first written under a temporary name and renamed into
place, so it either exists complete or not at all; a crash mid-round leaves
only a temporary folder, which the next process to take the run's lock removes
(`RunStore.lock`). No TensorFlow here.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lth_tf.core.paths import link_refusal, what_is
from lth_tf.storage import atomic
from lth_tf.storage import lock as run_lock
from lth_tf.storage import rundir as R
from lth_tf.storage.rundir import (
    MASKS_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    config_path,
    control_dir,
    controls_dir,
    lock_path,
    model_path,
    rewind_path,
    round_dir,
    rounds_dir,
    runtime_path,
    summary_path,
)


def save_arrays(path: Path, arrays: list[np.ndarray] | dict[str, np.ndarray]) -> None:
    """Save a list (kept in order) or a dict of arrays as .npz, atomically."""
    if isinstance(arrays, dict):
        payload = {f"k:{k}": np.asarray(v) for k, v in arrays.items()}
    else:
        payload = {f"i:{i:05d}": np.asarray(v) for i, v in enumerate(arrays)}
    atomic.write_bytes_atomic(path, lambda f: np.savez(f, **payload))


def load_arrays(path: Path, remedy: str) -> list[np.ndarray] | dict[str, np.ndarray]:
    """Inverse of save_arrays. Raises LthError if the file is missing or corrupt.

    `remedy` says what to delete to recompute it (see `rundir.corrupt`).
    """
    kind = what_is(path)
    if kind not in ("a file", "missing"):  # a FIFO or device would block np.load
        raise R.corrupt(path, f"{kind}, not a file", remedy)
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = sorted(z.files)
            if keys and all(k.startswith("i:") for k in keys):
                return [z[k] for k in keys]
            return {k[2:]: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise R.corrupt(path, type(e).__name__, remedy) from None


# -- the store --------------------------------------------------------------------------
class RunStore:
    """Writes one run directory; its reads are `rundir`'s, bound to this directory."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)

    # config identity
    def claim(self, config_toml: str, config_hash: str, runtime: dict[str, Any] | None = None) -> bool:
        """Create the run dir for this config, or check it belongs to it.

        Returns True when the directory already held this config (a resume).
        A directory holding another config is never overwritten. `runtime`: the speed
        settings a new run starts with (`speed.Settings.to_dict`), written to runtime.json
        before config.toml, so a run directory made now always has them.
        """
        R.check_holds(self.run_dir, config_hash)
        path = config_path(self.run_dir)
        if path.exists():
            return True
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if runtime is not None:
            atomic.write_json_atomic(runtime_path(self.run_dir), runtime)
        atomic.write_text_atomic(path, R.format_hash_line(config_hash) + config_toml)
        return False

    def record_runtime(self, runtime: dict[str, Any]) -> bool:
        """Write runtime.json unless the run has one (a run from before it: what it resumes
        with); returns whether it wrote. A recorded run keeps what it started with."""
        if runtime_path(self.run_dir).exists():
            return False
        atomic.write_json_atomic(runtime_path(self.run_dir), runtime)
        return True

    def stored_hash(self) -> str | None:
        return R.stored_hash(self.run_dir)

    # exclusive use
    def lock(self) -> run_lock.RunLock:
        """Take the run's lock (LthError naming the holder if another process has it),
        then remove the temporary files and folders killed writers left behind.

        Use as `with store.lock(): ...` around everything that writes the run.
        """
        self.check_links()
        held = run_lock.acquire(lock_path(self.run_dir), self.run_dir)
        try:
            self.clean_leftovers()
        except BaseException:
            held.release()
            raise
        return held

    def check_unlocked(self) -> None:
        """LthError naming the holder if another process runs this directory (writes nothing)."""
        self.check_links()
        run_lock.check_free(lock_path(self.run_dir), self.run_dir)

    def check_links(self) -> None:
        """LthError naming the first of the run's names that is a symbolic link (see `rundir.links`)."""
        found = R.links(self.run_dir)
        if found:
            raise link_refusal(found[0])

    def clean_leftovers(self) -> list[Path]:
        """Temporary files and folders of killed writers (ours by exact name; see atomic.py)."""
        controls = controls_dir(self.run_dir)
        folders = [self.run_dir, rounds_dir(self.run_dir), controls]
        if controls.is_dir():
            folders += [c for c in sorted(controls.iterdir()) if c.is_dir()]
        return atomic.clean_leftovers(folders, legacy=True)

    # rounds
    def completed_rounds(self) -> list[int]:
        """Rounds whose checkpoint is complete (read-only: safe while a run writes)."""
        return R.completed_rounds(self.run_dir)

    def save_round(
        self,
        r: int,
        weights: list[np.ndarray],
        masks: dict[str, np.ndarray],
        metrics: dict[str, Any],
    ) -> Path:
        final = round_dir(self.run_dir, r)
        needed = sum(np.asarray(a).nbytes for a in [*weights, *masks.values()])
        with atomic.writing(final, needed):  # a full disk names the round, not its temporary folder
            tmp = atomic.temp_dir(final.parent, final.name)
            try:
                save_arrays(tmp / WEIGHTS_FILE, weights)
                save_arrays(tmp / MASKS_FILE, masks)
                atomic.write_json_atomic(tmp / METRICS_FILE, metrics)
                if final.is_symlink():
                    raise link_refusal(final)
                if final.exists():  # a round recomputed after a gap: ours, replaced whole
                    shutil.rmtree(final)
                os.replace(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return final

    def load_round(self, r: int) -> tuple[list[np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
        d, remedy = round_dir(self.run_dir, r), R.round_remedy(self.run_dir, r)
        weights = load_arrays(d / WEIGHTS_FILE, remedy)
        masks = load_arrays(d / MASKS_FILE, remedy)
        metrics = self.round_metrics(r)
        if not isinstance(weights, list):
            raise R.corrupt(d / WEIGHTS_FILE, "unexpected layout", remedy)
        if not isinstance(masks, dict):
            raise R.corrupt(d / MASKS_FILE, "unexpected layout", remedy)
        return weights, masks, metrics

    def round_metrics(self, r: int) -> dict[str, Any]:
        return R.round_metrics(self.run_dir, r)

    # controls
    def save_control(self, kind: str, r: int, metrics: dict[str, Any]) -> None:
        atomic.write_json_atomic(control_dir(self.run_dir, kind, r) / METRICS_FILE, metrics)

    def control_metrics(self, kind: str, r: int) -> dict[str, Any] | None:
        return R.control_metrics(self.run_dir, kind, r)

    def all_controls(self) -> list[dict[str, Any]]:
        return R.all_controls(self.run_dir)

    # rewind point
    def save_rewind(self, weights: list[np.ndarray]) -> None:
        save_arrays(rewind_path(self.run_dir), weights)

    def load_rewind(self) -> list[np.ndarray]:
        path, remedy = rewind_path(self.run_dir), R.rewind_remedy(self.run_dir)
        w = load_arrays(path, remedy)
        if not isinstance(w, list):
            raise R.corrupt(path, "unexpected layout", remedy)
        return w

    def check_resume_point(self, planned_rounds: int, uses_snapshot: bool) -> None:
        """Read the checkpoint a resume starts from, so a corrupt one fails before any work.

        That is the last stored round and the rewind point (needed when rounds
        rewind to a snapshot, or already written). A finished run reads neither.
        """
        done = self.completed_rounds()
        if not done or done[-1] >= planned_rounds:
            return
        self.load_round(done[-1])
        if uses_snapshot or rewind_path(self.run_dir).exists():
            self.load_rewind()

    # theta0 of a user's model
    def save_model(self, write: Callable[[Path], None]) -> Path:
        """model.keras, written once by `write(path)` (a Keras model's `save`) and atomically;
        an existing one is kept (the run's hash covers its bytes). Returns its path."""
        path = model_path(self.run_dir)
        if not path.exists():
            atomic.write_file_atomic(path, write)
        return path

    # summary
    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic.write_json_atomic(summary_path(self.run_dir), summary)

    def read_summary(self) -> dict[str, Any] | None:
        return R.read_summary(self.run_dir)
