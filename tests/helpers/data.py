"""Data-test helpers: the offline citation files, read-only proofs, and tiny image sources.

Shared by the data, citation, Planetoid, folder, fuzz and own-source tests: the real
Planetoid files under $LTH_DATA_DIR (and a skip mark when they are missing), a
snapshot proving nothing was written, the GCN normalisation check, a CIFAR-style JPEG
archive and class folders of solid-colour images built in a temporary folder.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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


# -- a CIFAR-10-style JPEG archive -------------------------------------------------------------
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def class_colour(c: int) -> np.ndarray:
    return np.array([20 * c + 30, 250 - 20 * c, 100 + 10 * c], np.uint8)


def make_jpeg_archive(folder: Path, per_class: dict[str, int]) -> Path:
    """A cifar10-jpeg.tar.gz with solid-colour 32x32 images coloured by class."""
    path = folder / "cifar10-jpeg.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for split, n in per_class.items():
            for c in reversed(range(10)):  # archive order must not matter
                for i in reversed(range(n)):
                    buf = io.BytesIO()
                    pixels = np.broadcast_to(class_colour(c), (32, 32, 3)).copy()
                    pixels[0, 0] = i  # marks the file number
                    Image.fromarray(pixels).save(buf, format="JPEG", quality=95)
                    info = tarfile.TarInfo(f"{split}/{CLASSES[c]}/{i:04d}.jpg")
                    info.size = len(buf.getvalue())
                    tar.addfile(info, io.BytesIO(buf.getvalue()))
        readme = tarfile.TarInfo("README.txt")
        readme.size = 2
        tar.addfile(readme, io.BytesIO(b"hi"))
    return path


# -- class folders (data.name = folder:PATH) ---------------------------------------------------
COLOURS = {"cat": (200, 40, 40), "dog": (40, 200, 40), "owl": (40, 40, 200)}
FORMATS = ("png", "jpg", "bmp", "gif", "JPEG")


def write_image(path: Path, colour, size=(24, 20), marker: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.broadcast_to(np.array(colour, np.uint8), (size[1], size[0], 3)).copy()
    pixels[0, 0] = marker
    fmt = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "bmp": "BMP", "gif": "GIF"}
    Image.fromarray(pixels).save(path, format=fmt[path.suffix[1:].lower()])


def make_folder(root: Path, counts: dict[str, int], colours=None, nested: bool = False) -> Path:
    """Class folders with `counts[c]` images each, in mixed formats and sizes."""
    colours = colours or COLOURS
    for c, n in counts.items():
        for i in range(n):
            sub = root / c / ("more" if nested and i % 3 == 0 else "")
            size = (16 + 3 * i, 12 + 2 * (i % 4))  # mixed sizes, some smaller than image_size
            write_image(sub / f"{i:03d}.{FORMATS[i % len(FORMATS)]}", colours[c], size, marker=i)
    return root
