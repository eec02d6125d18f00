"""Fuzz: damaged files the data loaders and the run directory read (issue 13, item 7).

Hypothesis truncates, flips, empties, splices or appends to one file at a time of:
the Planetoid Cora files, a tiny CIFAR-style JPEG archive, an image folder, and a
finished tiny run directory. Every outcome must be a correct result or one
LthError line naming the file: never another exception, a signal, or a silently
different data set. Most examples call the readers in-process; a few run the
real CLI in a subprocess (exit 0 or 2 with one stderr line, never a traceback or
a negative return code). Outcomes are tallied in /tmp/lth-fuzz-outcomes.json.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers.data import CITATION, make_jpeg_archive, needs
from helpers.fuzz import FAST, check, dump_outcomes, mutate_file, mutations
from hypothesis import given, settings
from hypothesis import strategies as st

from lth_tf.core.config import Data
from lth_tf.keras_side import data
from lth_tf.keras_side.data import planetoid


@pytest.fixture(scope="module", autouse=True)
def tally():
    yield
    print("\nfuzz outcomes (ok = correct result, error = one-line LthError):", dump_outcomes())


# -- Planetoid ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cora(tmp_path_factory):
    root = tmp_path_factory.mktemp("cora")
    (root / "citation").mkdir()
    for s in planetoid.SUFFIXES:
        shutil.copyfile(CITATION / f"ind.cora.{s}", root / "citation" / f"ind.cora.{s}")
    return root, data.load(Data(name="cora"), root)


def same_graph(a, b) -> None:
    assert np.array_equal(a.x, b.x) and abs(a.a - b.a).max() == 0
    assert np.array_equal(a.y, b.y)
    for m in ("train_mask", "val_mask", "test_mask"):
        assert np.array_equal(getattr(a, m), getattr(b, m))


@pytest.mark.slow  # the real Cora files
@needs("cora")
@settings(FAST, max_examples=120)
@given(suffix=st.sampled_from(planetoid.SUFFIXES), m=mutations())
def test_damaged_planetoid_file_is_an_error_or_the_same_data(cora, suffix, m):
    root, original = cora
    path = root / "citation" / f"ind.cora.{suffix}"
    saved = mutate_file(path, m)
    try:
        # The checks run first (no TF); only files that pass them are assembled.
        files = check(f"planetoid {suffix}", lambda: planetoid.read(root / "citation", "cora"), str(path))
        if files is not None:
            same_graph(data.load(Data(name="cora"), root), original)
    finally:
        path.write_bytes(saved)


# -- CIFAR-style JPEG archive -----------------------------------------------------------------
@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    from lth_tf.keras_side.data import cifar10

    folder = tmp_path_factory.mktemp("cifar")
    path = make_jpeg_archive(folder, {"train": 2, "test": 1})
    os.environ.setdefault("LTH_CACHE_DIR", str(tmp_path_factory.mktemp("cache0")))
    return path.read_bytes(), cifar10.read_arrays(folder)


@settings(FAST, max_examples=60)
@given(m=mutations())
def test_damaged_cifar_archive_is_an_error_or_the_same_images(archive, m, monkeypatch):
    from lth_tf.keras_side.data import cifar10

    good, ((xtr, ytr), (xte, yte)) = archive
    with tempfile.TemporaryDirectory() as tmp:
        folder, cache = Path(tmp, "data"), Path(tmp, "cache")
        folder.mkdir()
        path = folder / cifar10.ARCHIVE
        path.write_bytes(m.apply(good))
        monkeypatch.setenv("LTH_CACHE_DIR", str(cache))  # fresh: no earlier example's cache

        def same(got):
            (a, b), (c, d) = got
            assert all(np.array_equal(p, q) for p, q in ((a, xtr), (b, ytr), (c, xte), (d, yte)))

        check("cifar archive", lambda: cifar10.read_arrays(folder), str(path), expect=same)


# -- image folder -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for c, cls in enumerate(("cat", "dog")):
        (root / cls).mkdir()
        for i, fmt in enumerate(("png", "jpg", "png", "jpg")):
            pixels = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
            pixels[..., c] = 255  # classes differ in colour
            Image.fromarray(pixels).save(root / cls / f"{i}.{fmt}")
    files = sorted(p for p in root.rglob("*.*"))
    cfg = Data(name=f"folder:{root}", image_size=8, val_size=2, augment=False)
    return root, files, cfg, data.load(cfg, seed=0)


def all_images(d) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([d.x_train, d.x_val, d.x_test]), np.concatenate([d.y_train, d.y_val, d.y_test])


@settings(FAST, max_examples=40)
@given(pick=st.integers(0, 7), m=mutations())
def test_damaged_image_is_an_error_or_only_that_image_differs(image_folder, pick, m):
    _root, files, cfg, original = image_folder
    path = files[pick]
    saved = mutate_file(path, m)
    x0, y0 = all_images(original)

    def same_but_one(d):
        # A JPEG with flipped scan bytes still decodes (to other pixels): nothing can tell,
        # but it is the file's content, and every other image and label is unchanged.
        x, y = all_images(d)
        assert np.array_equal(y, y0) and x.shape == x0.shape and x.dtype == np.uint8
        assert d.class_names == original.class_names
        assert int((x != x0).reshape(len(x), -1).any(axis=1).sum()) <= 1

    try:
        check(f"image {path.suffix}", lambda: data.load(cfg, seed=0), str(path), expect=same_but_one)
    finally:
        path.write_bytes(saved)
