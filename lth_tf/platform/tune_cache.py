"""`lth-tf tune`'s winners on this machine: one JSON file in the user's cache.

    entry = tune_cache.lookup(cpu, workload)        # None, or {"values": {...}, "measured": "...", ...}
    tune_cache.store(cpu, workload, entry)          # what `lth-tf tune` found fastest

The file is `$LTH_CACHE_DIR/tune.json` (default ~/.cache/lth_tf, lth_tf/core/cache.py),
keyed by the CPU (`Cpu.key`: model, speed flags, cores) and the workload
(`Workload.key`), so a winner is used only by runs of the same kind on the same kind
of CPU (`speed.choose` ranks it below the user's settings and a resumed run's record).
Pure: JSON and a rename, no TensorFlow. A damaged file is ignored when read (the rules
decide then) and replaced by the next `lth-tf tune`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from lth_tf.core.cache import cache_dir
from lth_tf.platform.speed import Cpu, Workload

log = logging.getLogger(__name__)

FILE = "tune.json"
VERSION = 1


def path() -> Path:
    return cache_dir() / FILE


def key(cpu: Cpu, workload: Workload) -> str:
    return f"{cpu.key()} :: {workload.key()}"


def _read(file: Path) -> dict[str, Any]:
    try:
        raw = json.loads(file.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("ignoring the tune cache %s (%s); `lth-tf tune` rewrites it", file, type(e).__name__)
        return {}
    if not isinstance(raw, dict) or raw.get("version") != VERSION or not isinstance(raw.get("entries"), dict):
        return {}
    return raw["entries"]


def lookup(cpu: Cpu, workload: Workload, file: Path | None = None) -> dict[str, Any] | None:
    """The stored winner for this CPU and workload, or None."""
    entry = _read(file or path()).get(key(cpu, workload))
    if not isinstance(entry, dict) or not isinstance(entry.get("values"), dict):
        return None
    return entry


def store(cpu: Cpu, workload: Workload, entry: dict[str, Any], file: Path | None = None) -> Path:
    """Record `entry` ({"values": {setting: value}, "measured": str, ...}) for this CPU and workload."""
    file = file or path()
    entries = _read(file)
    entries[key(cpu, workload)] = entry
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"version": VERSION, "entries": entries}, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, file)  # readers see the old file or the new one, never half of one
    return file
