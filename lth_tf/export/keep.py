"""The files of an export folder that lth-tf did not write, carried into its replacement.

An export's marker lists the files it wrote (`files`, paths relative to the
folder). A re-export onto the folder writes a whole new folder and swaps it in,
so anything else there (a user's notes next to a served model, a link they
made) would go with the old folder: `carry` puts each such entry into the new
folder first (a hard link, or a copy where the file system has none; links as
links, never followed), and refuses, naming them, when the new export writes
one of those names itself. Exports of older versions have no list: there the
top-level names any format writes (`legacy`, from lth_tf.export's file names) are ours.
Our own temporary names (`atomic.TEMP_RE`: leftovers of killed writers) are never carried.
No TensorFlow here.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from lth_tf.core.errors import LthError
from lth_tf.storage import atomic


def listing(folder: Path) -> list[str]:
    """Every file and link below `folder`, as sorted relative POSIX paths (folders implied)."""
    found = []
    for top, dirs, files in os.walk(folder):
        here = Path(top)
        # os.walk lists links to folders with the folders and does not enter them: a link is an entry
        for name in [*files, *(d for d in dirs if (here / d).is_symlink())]:
            found.append((here / name).relative_to(folder).as_posix())
    return sorted(found)


def foreign(folder: Path, written: list[str] | None, legacy: frozenset[str]) -> list[str]:
    """Entries of export `folder` lth-tf did not write: files, links, and empty folders (ending in /).

    `written`: the marker's `files`; None for an export of an older version, where
    the top-level names in `legacy` are ours.
    """
    ours = set(written or ())
    ours_dirs = {"/".join(p.split("/")[:i]) for p in ours for i in range(1, p.count("/") + 1)}

    def is_ours(rel: str) -> bool:
        parts = rel.split("/")
        if any(atomic.TEMP_RE.match(p) for p in parts):
            return True
        return rel in ours if written is not None else parts[0] in legacy

    found = [rel for rel in listing(folder) if not is_ours(rel)]
    for top, dirs, files in os.walk(folder):
        for d in dirs:
            path = Path(top) / d
            rel = path.relative_to(folder).as_posix()
            if not path.is_symlink() and not any(path.iterdir()) and not is_ours(rel) and rel not in ours_dirs:
                found.append(rel + "/")
    return sorted(found)


def carry(old: Path, new: Path, written: list[str] | None, legacy: frozenset[str]) -> list[str]:
    """Put the entries of export `old` lth-tf did not write into `new` (see the module doc).

    LthError naming them (before anything is carried) if `new` writes one of those names.
    Returns what was carried.
    """
    entries = foreign(old, written, legacy)
    taken = [rel for rel in entries if _exists(new / rel.rstrip("/")) and not rel.endswith("/")]
    if taken:
        raise LthError(
            f"export target {old} holds {_few(taken)}, which lth-tf did not write and the new export "
            f"would overwrite; move {'it' if len(taken) == 1 else 'them'} out of {old}, then export again"
        )
    odd = [rel for rel in entries if not rel.endswith("/") and not _plain(old / rel)]
    if odd:
        raise LthError(
            f"export target {old} holds {_few(odd)}, which lth-tf did not write and cannot keep "
            f"(not a regular file, folder or link); move {'it' if len(odd) == 1 else 'them'} out of "
            f"{old}, then export again"
        )
    for rel in entries:
        src, dst = old / rel.rstrip("/"), new / rel.rstrip("/")
        if rel.endswith("/"):
            dst.mkdir(parents=True, exist_ok=True)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            try:
                os.link(src, dst, follow_symlinks=False)
            except OSError:  # no hard links here: a copy
                shutil.copy2(src, dst, follow_symlinks=False)
    return entries


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _plain(path: Path) -> bool:
    """A link, or a regular file (never a FIFO, socket or device: those are not opened)."""
    return path.is_symlink() or stat.S_ISREG(path.lstat().st_mode)


def _few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
