"""Checks shared by the data tests (test_data.py, test_citation.py, test_folder_data.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


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
