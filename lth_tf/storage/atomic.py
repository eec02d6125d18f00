"""Writes that land whole or not at all, the temporary names they use, and their cleanup.

Every file or folder lth-tf writes is first written under a temporary name in
the same folder and renamed into place. Temporary names carry the writer's pid:

    .<name>.lth-<pid>-<8 random chars>.tmp

so a later run can tell the leftovers of a killed writer (pid no longer alive)
from the files of a writer still at work, and never mistakes a user's file for
one of ours. `clean_leftovers` removes only names of exactly that form (and
the forms older versions used, see `LEGACY`). No TensorFlow here.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

_RANDOM = r"[a-z0-9_]{8}"  # tempfile's random part: 8 of [a-z0-9_]
TEMP_RE = re.compile(rf"^\.(?P<name>.+)\.lth-(?P<pid>\d+)-{_RANDOM}\.tmp$")
# Names older versions of lth-tf used (no pid): removed in run directories only,
# where the run lock says no other writer is at work.
LEGACY = (
    re.compile(
        rf"^\.(config\.toml|summary\.json|rewind\.npz|report\.md|metrics\.json|weights\.npz"
        rf"|masks\.npz)\.{_RANDOM}\.tmp$"
    ),
    re.compile(r"^\.\d{3}\.tmp$"),  # a round folder being written
    re.compile(rf"^\.ticket\.{_RANDOM}$"),  # an export of the run's ticket
    re.compile(r"^\.model\.keras\.tmp\.keras$"),  # theta0 being saved by the Python API
)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; our files get the
# permissions any other new file would (0o666 less the umask), like the SavedModel.
FILE_MODE = 0o666 & ~_read_umask()


def temp_prefix(name: str) -> str:
    return f".{name}.lth-{os.getpid()}-"


def temp_dir(parent: Path, name: str) -> Path:
    """A new empty folder in `parent` under a temporary name for `name`."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=parent, prefix=temp_prefix(name), suffix=".tmp"))


def write_bytes_atomic(path: Path, write) -> None:
    """Create `path` by calling `write(file)` on a temporary file, then renaming it.

    On any failure the temporary file is removed and `path` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_file_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Create `path` by calling `write(p)`, `p` a path of the same name in a temporary
    folder beside it, then renaming it into place.

    For writers that take a path, not an open file, and read its suffix (Keras'
    `model.save` picks the format by it). No TensorFlow here: the caller brings it.
    On any failure the temporary folder is removed and `path` is left as it was.
    """
    tmp = temp_dir(path.parent, path.name)
    try:
        inside = tmp / path.name
        write(inside)
        with open(inside, "rb") as f:
            os.fsync(f.fileno())
        os.replace(inside, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, lambda f: f.write(text.encode("utf-8")))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


# -- swapping folders -------------------------------------------------------------------
SPARE_NAME = "old"  # inside a swap's temporary folder: the replaced folder, until done
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux renameat2 RENAME_EXCHANGE).

    False if the system or file system cannot (then nothing happened).
    """
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # not glibc >= 2.28 / not Linux
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(new: Path, target: Path, spare: Path) -> None:
    """Put folder `new` at `target`; an existing `target` is replaced whole or kept.

    With an atomic exchange the old folder ends up at `new`. Without one, the old
    folder is moved to `spare` first and moved back if the second rename fails;
    a kill between the two renames leaves it in `spare`, where `clean_leftovers`
    finds it and puts it back.
    """
    if not target.exists():
        os.rename(new, target)
        return
    if exchange(new, target):
        return
    os.rename(target, spare)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(spare, target)
        raise


# -- leftovers --------------------------------------------------------------------------
def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists on this host (ours, or another user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    return True


def is_leftover(name: str, legacy: bool = False) -> bool:
    """Whether `name` is one of our temporary names whose writer is gone."""
    m = TEMP_RE.match(name)
    if m:
        return not pid_alive(int(m["pid"]))
    return legacy and any(p.match(name) for p in LEGACY)


def clean_leftovers(
    folders: Iterable[Path], legacy: bool = False, target: str | None = None
) -> list[Path]:
    """Remove the leftovers of killed writers in `folders` (not below); return them.

    `target`: only temporary names for that name. `legacy`: also the names older
    versions used (only where no other writer can be at work). A folder left by
    a swap that was cut short (see `replace_dir`) gives its old folder back first.
    """
    removed = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            m = TEMP_RE.match(entry.name)
            if target is not None and not (m and m["name"] == target):
                continue
            if not is_leftover(entry.name, legacy):
                continue
            if m and entry.is_dir() and not entry.is_symlink():
                spare, home = entry / SPARE_NAME, folder / m["name"]
                if spare.is_dir() and not home.exists():
                    os.rename(spare, home)
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed
