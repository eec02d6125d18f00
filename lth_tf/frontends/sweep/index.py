"""The sweep directory and its `sweep.json` index. No TensorFlow here.

    SWEEP_DIR/sweep.json      what the sweep is: base experiment, grid, seeds, cells
    SWEEP_DIR/runs/RUN_NAME/  one ordinary run directory per cell (see store.py)

The index is written once when the sweep is planned and again when a cell
fails (its error); everything else about a cell's progress is read from its
run directory, so a killed sweep's index is never stale. A sweep directory is
recognised by its index's `kind`; lth-tf writes only into an empty folder or
one holding the same sweep.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lth_tf.core.errors import LthError
from lth_tf.core.paths import what_is
from lth_tf.frontends.sweep.grid import Cell, setting_label
from lth_tf.storage import atomic, rundir, store

INDEX_FILE = "sweep.json"
RUNS_DIR = "runs"
KIND = "lth-tf-sweep"
FORMAT = 1

# a cell's state, as `sweep` prints it and the TUI shows it
DONE, RUNNING, FAILED, PARTIAL, PENDING = "done", "running", "failed", "partial", "pending"


def index_path(sweep_dir: Path) -> Path:
    return Path(sweep_dir) / INDEX_FILE


def runs_dir(sweep_dir: Path) -> Path:
    return Path(sweep_dir) / RUNS_DIR


def is_sweep_dir(path: Path) -> bool:
    if what_is(index_path(path)) != "a file":  # never open a FIFO or a device
        return False
    try:
        return json.loads(index_path(path).read_text(encoding="utf-8")).get("kind") == KIND
    except (OSError, ValueError, AttributeError):
        return False


@dataclass(frozen=True)
class PlannedCell:
    cell: Cell
    run_name: str  # the run directory's name under runs/ (the experiment's run_name)
    overrides: tuple[str, ...]  # everything `lth-tf run` gets as --set, seed included


def new_index(base: dict[str, Any], axes: list, seeds: list[int], planned: list[PlannedCell]) -> dict:
    return {
        "kind": KIND,
        "format": FORMAT,
        "base": base,  # {"preset", "config", "overrides", "data_dir"}
        "grid": [[k, list(v)] for k, v in axes],
        "seeds": seeds,
        "cells": [
            {"name": p.cell.name, "setting": list(p.cell.setting), "label": p.cell.label,
             "seed": p.cell.seed, "run_dir": f"{RUNS_DIR}/{p.run_name}",
             "overrides": list(p.overrides)}
            for p in planned
        ],
        "failures": {},
    }


def claim(sweep_dir: Path, index: dict[str, Any]) -> dict[str, Any]:
    """Write the index of a new sweep, or check `sweep_dir` already holds this one.

    Returns the index on disk (with its recorded failures, for a rerun).
    """
    path = index_path(sweep_dir)
    if path.exists() or path.is_symlink():
        old = read_index(sweep_dir)
        if [c["run_dir"] for c in old["cells"]] != [c["run_dir"] for c in index["cells"]]:
            raise LthError(
                f"{sweep_dir} holds another sweep (its cells differ from this command's); "
                "choose another --out, or rerun that sweep's own command"
            )
        return old
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise LthError(f"--out {sweep_dir} is {what_is(sweep_dir)}, not a folder; choose an empty or new folder")
    if sweep_dir.exists() and any(sweep_dir.iterdir()):
        raise LthError(f"{sweep_dir} is not empty and holds no sweep; choose an empty or new --out folder")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_json_atomic(path, index)
    return index


def read_index(sweep_dir: Path) -> dict[str, Any]:
    path = index_path(sweep_dir)
    if what_is(path) not in ("missing", "a file"):  # a FIFO would block, a folder is no index
        raise LthError(f"{path} is {what_is(path)}, not a sweep index; pass a folder made by `lth-tf sweep`")
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LthError(f"{sweep_dir} has no {INDEX_FILE}; pass a folder made by `lth-tf sweep`") from None
    except (OSError, ValueError) as e:
        raise LthError(f"{path} cannot be read ({e}); restore it or rerun the sweep into a new --out") from None
    if not isinstance(index, dict) or index.get("kind") != KIND or not isinstance(index.get("cells"), list):
        raise LthError(f"{path} is not an lth-tf sweep index; pass a folder made by `lth-tf sweep`")
    return index


def record_failure(sweep_dir: Path, name: str, exit_code: int, error: str) -> None:
    index = read_index(sweep_dir)
    index.setdefault("failures", {})[name] = {"exit_code": exit_code, "error": error}
    atomic.write_json_atomic(index_path(sweep_dir), index)


def clear_failure(sweep_dir: Path, name: str) -> None:
    index = read_index(sweep_dir)
    if index.get("failures", {}).pop(name, None) is not None:
        atomic.write_json_atomic(index_path(sweep_dir), index)


@dataclass(frozen=True)
class CellStatus:
    name: str
    label: str
    seed: int
    run_dir: Path
    state: str
    rounds_done: int  # completed rounds, dense round included
    ticket_sparsity: float | None  # the run's winner so far (lth_tf.core.winner, from summary.json)
    error: str = ""
    ticket_test_acc: float | None = None  # that winner's test accuracy
    dense_test_acc: float | None = None  # round 0's


def cell_status(sweep_dir: Path, entry: dict[str, Any], failures: dict[str, Any]) -> CellStatus:
    run_dir = Path(sweep_dir) / entry["run_dir"]
    run = store.RunStore(run_dir)
    summary = _summary(run_dir)
    # rounds on disk; a summary's list is the same, and is all a copied/archived run may keep
    done = max(len(rundir.completed_rounds(run_dir)), len((summary or {}).get("rounds") or []))
    # the ticket once finished, else the winner rule's choice among the rounds so far
    ticket = (summary or {}).get("ticket") or (summary or {}).get("winner") or {}
    failure = failures.get(entry["name"])
    if summary and summary.get("status") == "finished":
        state = DONE
    elif _locked(run):
        state = RUNNING
    elif failure:
        state = FAILED
    elif done:
        state = PARTIAL
    else:
        state = PENDING
    return CellStatus(entry["name"], entry.get("label", setting_label(tuple(entry["setting"]))),
                      int(entry["seed"]), run_dir, state, done, ticket.get("sparsity"),
                      (failure or {}).get("error", "") if state == FAILED else "",
                      ticket_test_acc=_test_acc(summary, ticket),
                      dense_test_acc=((summary or {}).get("dense") or {}).get("test_acc"))


def _test_acc(summary: dict[str, Any] | None, ticket: dict[str, Any]) -> float | None:
    """The test accuracy of the ticket, or of the winner so far (its round in the summary)."""
    if "test_acc" in ticket:
        return ticket["test_acc"]
    rows = [m for m in (summary or {}).get("rounds") or [] if m.get("round") == ticket.get("round")]
    return rows[0].get("test_acc") if rows else None


def statuses(sweep_dir: Path) -> list[CellStatus]:
    index = read_index(sweep_dir)
    failures = index.get("failures") or {}
    return [cell_status(sweep_dir, e, failures) for e in index["cells"]]


def _summary(run_dir: Path) -> dict[str, Any] | None:
    try:
        return rundir.read_summary(run_dir)
    except LthError:
        return None  # not written yet, or being replaced: the state falls back to rounds


def _locked(run: store.RunStore) -> bool:
    try:
        run.check_unlocked()
        return False
    except LthError:
        return True
