"""Checks and helpers shared by the data tests (data, citation, Planetoid files, folders)."""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

DATA_DIR = os.environ.get("LTH_DATA_DIR")
CITATION = Path(DATA_DIR or "/nonexistent", "citation")


def needs(name: str):
    return pytest.mark.skipif(
        not (CITATION / f"ind.{name}.graph").is_file(),
        reason=f"set LTH_DATA_DIR to a folder holding citation/ind.{name}.*",
    )


def raw(folder: Path, name: str, suffix: str):
    """A file unpickled the plain way (the real files are trusted here)."""
    path = folder / f"ind.{name}.{suffix}"
    if suffix == "test.index":
        return np.loadtxt(path, dtype=np.int64)
    with warnings.catch_warnings():  # scipy.sparse.csr is a deprecated module name
        warnings.simplefilter("ignore", DeprecationWarning)
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under `folder` with size and mtime: proof nothing was written."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def assert_gcn_normalised(a) -> None:
    """a = D^-1/2 (A+I) D^-1/2: symmetric, and sqrt(deg) is an eigenvector with eigenvalue 1."""
    assert abs(a - a.T).max() < 1e-6
    binary = (a != 0).astype(np.float64)  # A + I
    assert (binary.diagonal() == 1).all()
    root_deg = np.sqrt(np.asarray(binary.sum(axis=1)).ravel())
    assert np.allclose(a @ root_deg, root_deg, atol=1e-4)
