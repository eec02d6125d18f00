"""User-supplied models and data named in the config, without TensorFlow.

A model or data set is either a registry name (`resnet18`, `cora`, ...) or a
source with a prefix:

    model.name = "file:PATH"                 a saved Keras model (.keras or .h5)
    model.name = "py:package.module:func"    a factory (input_shape, num_classes, seed)
    data.name  = "folder:PATH"               an image folder, one subfolder per class

The run directory is named after the config's hash; for these sources the hash
must also change when the thing behind the name changes (a retrained model file,
an edited factory, images added to the folder), or an old run would resume with
a different model. `fingerprint` gives that digest. It only reads files, so it
runs before TensorFlow is imported and before a run directory exists.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import zipfile
from pathlib import Path

from lth_tf.core.errors import LthError
from lth_tf.core.paths import what_is

FILE, PY, FOLDER = "file:", "py:", "folder:"
# data.name of a run whose data was handed over from Python (lth_tf.TicketSearch):
# nothing to load from a config, so such a run resumes from Python only.
PYTHON = "python"
MODEL_FILE_SUFFIXES = (".keras", ".h5")


def split(name: str) -> tuple[str | None, str]:
    """(prefix, rest) of a source name, or (None, name) for a registry name."""
    for prefix in (FILE, PY, FOLDER):
        if name.startswith(prefix):
            return prefix, name[len(prefix) :]
    return None, name


def is_user_model(name: str) -> bool:
    return split(name)[0] in (FILE, PY)


def is_user_data(name: str) -> bool:
    return name == PYTHON or split(name)[0] == FOLDER


def model_file(name: str) -> Path:
    """The saved-model path of a `file:` name, checked to exist with a known suffix."""
    path = Path(split(name)[1]).expanduser()
    if path.suffix not in MODEL_FILE_SUFFIXES:
        raise LthError(
            f"model.name {name!r}: {path.name!r} is not a .keras or .h5 file; "
            "save the model with model.save('model.keras')"
        )
    if not path.is_file():
        kind = what_is(path)
        found = f"no such file {path}" if kind == "missing" else f"{path} is {kind}, not a file"
        raise LthError(f"model.name {name!r}: {found}; give the path of a saved .keras or .h5 model")
    return path


def factory_parts(name: str) -> tuple[str, str]:
    """(module, function) of a `py:module:function` name."""
    module, sep, function = split(name)[1].rpartition(":")
    if not sep or not module or not function.isidentifier():
        raise LthError(
            f"model.name {name!r} is not py:module:function; write e.g. py:mymodels:build_model"
        )
    return module, function


def factory_source(name: str) -> Path:
    """The source file of a `py:` factory's module (found from the working directory)."""
    module, _ = factory_parts(name)
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as e:
        raise LthError(f"model.name {name!r}: cannot find module {module!r} ({e}); run from its folder") from None
    finally:
        if added:
            sys.path.remove(cwd)
    if spec is not None and not (spec.origin and Path(spec.origin).is_file()):
        raise LthError(  # os, sys, ...: frozen or built in, so found, but no source to fingerprint
            f"model.name {name!r}: module {module!r} has no source file ({spec.origin or 'a namespace package'}); "
            "put the factory in a .py file of yours and name that module"
        )
    if spec is None:
        raise LthError(
            f"model.name {name!r}: no module {module!r} importable from {cwd}; "
            "run lth-tf from the folder that holds it or put it on PYTHONPATH"
        )
    return Path(spec.origin)


def data_folder(name: str) -> Path:
    path = Path(split(name)[1]).expanduser()
    if not path.is_dir():
        kind = what_is(path)
        found = f"no such folder {path}" if kind == "missing" else f"{path} is {kind}, not a folder"
        raise LthError(f"data.name {name!r}: {found}; give a folder with one subfolder per class")
    return path


def folder_listing(folder: Path) -> list[tuple[str, int]]:
    """(relative path, size) of every file under `folder`, sorted; hidden files skipped."""
    items = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in files:
            if f.startswith("."):
                continue
            p = Path(root) / f
            size = p.stat().st_size if p.exists() else -1  # a broken link: refused when the images are listed
            items.append((p.relative_to(folder).as_posix(), size))
    return sorted(items)


def fingerprint(name: str) -> str | None:
    """A digest of what a source name points at (None for registry names).

    file: the bytes of the model file; py: the source of the factory's module;
    folder: the list of files with their sizes.
    """
    prefix, _ = split(name)
    h = hashlib.sha256()
    if prefix == FILE:
        h.update(model_file(name).read_bytes())
    elif prefix == PY:
        h.update(factory_source(name).read_bytes())
    elif prefix == FOLDER:
        for rel, size in folder_listing(data_folder(name)):
            h.update(f"{rel}\0{size}\n".encode())
    else:
        return None
    return h.hexdigest()


def saved_keras_version(path: str | Path) -> str | None:
    """The `keras_version` a `.keras` zip or `.h5` file records, or None if it names none.

    Reads the zip's metadata.json or the HDF5 attributes only (no TensorFlow), so a
    `file:` model is loaded by the Keras that wrote it, and the CLI can tell before
    TensorFlow loads.
    """
    path = Path(path)
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                meta = json.loads(z.read("metadata.json"))
        except (KeyError, ValueError, OSError, zipfile.BadZipFile):
            return None
        version = meta.get("keras_version") if isinstance(meta, dict) else None
        return str(version) if version else None
    if path.is_file():
        try:
            import h5py
        except ImportError:  # pragma: no cover - h5py comes with TensorFlow
            return None
        try:
            with h5py.File(path, "r") as f:
                version = f.attrs.get("keras_version")
        except OSError:
            return None
        if isinstance(version, bytes):
            version = version.decode("utf-8", "replace")
        return str(version) if version else None
    return None


def saved_by_keras3(path: str | Path) -> bool:
    """True when Keras 3 wrote the file (load it with Keras 3, then translate)."""
    version = saved_keras_version(path)
    return version is not None and version.startswith("3.")
