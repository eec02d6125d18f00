"""A sweep's cells: settings (a grid of `--set` values) times seeds. Pure Python.

    --seeds 0-4                 -> seeds 0, 1, 2, 3, 4   (also "0,2,7" and "0-2,9")
    --grid prune.rewind=init,lr -> two settings; several --grid flags multiply

A cell is one ordinary run: the sweep's base overrides, its setting's
overrides, and its seed. A setting's label is its overrides joined by spaces
(what `compare` groups runs by); a cell's name is the label plus the seed,
made safe for a folder name.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from lth_tf.core.errors import LthError

MAX_CELLS = 10_000  # a typo like --seeds 0-99999 should fail, not plan a year of runs
_SAFE = re.compile(r"[^A-Za-z0-9_.=-]+")


@dataclass(frozen=True)
class Cell:
    setting: tuple[str, ...]  # the grid's `key=value` overrides for this cell
    seed: int

    @property
    def label(self) -> str:
        return setting_label(self.setting)

    @property
    def name(self) -> str:
        """Folder-safe and unique within a sweep (settings differ or seeds do)."""
        parts = [_SAFE.sub("_", s) for s in self.setting]
        return "__".join([*parts, f"seed={self.seed}"])


def setting_label(setting: tuple[str, ...]) -> str:
    return " ".join(setting) if setting else "(base)"


def parse_seeds(text: str) -> list[int]:
    """'0-4' or '0,2,7' or '0-2,9' -> sorted unique seeds."""
    seeds: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise LthError(f"--seeds {text!r}: {part!r} is not a seed or a range; write e.g. --seeds 0-4")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise LthError(f"--seeds {text!r}: range {part} runs backwards; write e.g. {hi}-{lo}")
        if hi - lo >= MAX_CELLS:
            raise LthError(f"--seeds {text!r} asks for {hi - lo + 1} seeds; at most {MAX_CELLS}")
        seeds.update(range(lo, hi + 1))
    return sorted(seeds)


def parse_grid(items: list[str]) -> list[tuple[str, list[str]]]:
    """['prune.rewind=init,lr', ...] -> [('prune.rewind', ['init', 'lr']), ...].

    Values are split on commas: a value that itself holds a comma (a list) is
    the same in every cell, so it goes in --set instead.
    """
    axes: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise LthError(f"--grid {item!r} is not key=v1,v2; write e.g. --grid prune.rewind=init,lr")
        if key in ("seed",):
            raise LthError("--grid seed=...: seeds are their own axis; use --seeds 0-4")
        if any(key == k for k, _ in axes):
            raise LthError(f"--grid {key} given twice; list all its values in one flag: --grid {key}=a,b")
        vals = [v.strip() for v in values.split(",")]
        if any(v == "" for v in vals) or len(set(vals)) != len(vals):
            raise LthError(f"--grid {item!r}: values must be non-empty and distinct, e.g. {key}=a,b")
        axes.append((key, vals))
    return axes


def plan_cells(axes: list[tuple[str, list[str]]], seeds: list[int]) -> list[Cell]:
    """Every setting of the grid times every seed; settings vary slowest, so the
    first seed of every setting runs before the second seed of any."""
    settings = [tuple(f"{k}={v}" for (k, _), v in zip(axes, combo))
                for combo in itertools.product(*(vals for _, vals in axes))]
    n = len(settings) * len(seeds)
    if n > MAX_CELLS:
        raise LthError(f"the sweep has {n} cells; at most {MAX_CELLS}: use fewer seeds or values")
    return [Cell(s, seed) for seed in seeds for s in settings]
