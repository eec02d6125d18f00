"""The user's own images: `data.name = "folder:PATH"`.

Layout, as `keras.utils.image_dataset_from_directory` reads it:

    PATH/<class>/**/<image>                        split here into train and test
    PATH/train/<class>/**/<image>, PATH/test/...   the user's own split

Class names are the sorted class-folder names; label i is `class_names[i]`.
Images are .png .jpg .jpeg .bmp .gif (any case; a GIF's first frame), found
recursively in each class folder; other files (a README) and hidden files or
folders (.DS_Store, .git) are ignored, as in `sources.fingerprint`. `data_dir`
plays no part: the path is in the name.

Decisions:
- Test set without train/ and test/: TEST_FRACTION of each class (rounded, at
  least one image), drawn with a fixed seed rather than the run's, so every
  seed of an experiment is scored on the same test images (like CIFAR's
  official test set).
- Validation: `data.val_size` training images, stratified (in the classes'
  proportions, `splits.stratified_split`) and drawn with the run's seed (as for
  CIFAR), capped at MAX_VAL_FRACTION of the training images because the default
  of 5000 is sized for CIFAR's 50,000. The cap never goes below one image per
  class, and every class keeps at least one training image. For 900/450/225
  images: test 180/90/45, validation 72/36/18, training 648/324/162. A class
  with fewer than 10 training images is named in a warning when a run starts
  (`run_started.data_warnings`, and the log).
- Pixels: every image is converted to RGB (palette expanded, alpha dropped, as
  Keras' `load_img` does) and resized to `data.image_size` squared with bilinear
  filtering, aspect ratio not kept (Keras' default), so mixed sizes are fine. If
  every image is grey (R = G = B everywhere), one channel is kept instead of three.
- Errors name the file or folder and the fix: an empty folder, no class folders,
  one class, a class without images, an unreadable image, train/ without test/
  (or the reverse), other folders beside train/ and test/, class folders that
  differ between train/ and test/.

Cost is linear in the number of images: one listing, one decode each (JPEGs are
decoded at reduced scale when much larger than `image_size`), one array.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lth_tf.core import sources
from lth_tf.core.errors import LthError
from lth_tf.core.paths import what_is

if TYPE_CHECKING:
    from lth_tf.core.config import Data
    from lth_tf.keras_side.data.images import ImageData

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SPLIT_FOLDERS = ("train", "test")
TEST_FRACTION = 0.2
TEST_SPLIT_SEED = 0  # fixed: the test images must not depend on the run's seed
MAX_VAL_FRACTION = 0.1


@dataclass(frozen=True)
class Listing:
    """The image files of a folder, labelled; `test` is None when the split is ours."""

    class_names: tuple[str, ...]
    train: list[tuple[Path, int]]
    test: list[tuple[Path, int]] | None


def load(cfg: Data, seed: int = 0) -> ImageData:
    """The folder named by `cfg.name` as ImageData (see the module docstring)."""
    root = sources.data_folder(cfg.name)
    try:
        listing = scan(root)
    except OSError as e:  # e.g. a folder without read permission
        raise LthError(
            f"cannot list {e.filename or root} ({e.strerror}); check its permissions"
        ) from None
    files = listing.train + (listing.test or [])
    x = decode_all([p for p, _ in files], cfg.image_size)
    y = np.array([label for _, label in files], np.int64)
    n_train = len(listing.train)
    if listing.test is None:
        test = split_off_test(y, TEST_SPLIT_SEED)
        train = np.setdiff1d(np.arange(len(y)), test)
    else:
        train, test = np.arange(n_train), np.arange(n_train, len(y))
    k = len(listing.class_names)
    val_size = capped_val_size(cfg.val_size, y[train], k)
    if val_size != cfg.val_size:
        log.info("data.val_size %d capped to %d for %s", cfg.val_size, val_size, root)
    from lth_tf.keras_side.data.assemble import (
        make_image_data,  # imports TF: only once the folder is read
    )

    return make_image_data(
        x[train],
        y[train],
        x[test],
        y[test],
        dataclasses.replace(cfg, val_size=val_size),
        seed,
        num_classes=k,
        name=cfg.name,
        class_names=listing.class_names,
    )


# -- listing ------------------------------------------------------------------------------


def scan(root: Path) -> Listing:
    """Class folders and their image files, checked; no image is opened."""
    root = Path(root)
    folders = _subfolders(root)
    if set(SPLIT_FOLDERS) & set(folders):
        return _scan_split(root, folders)
    classes = _classes(root, folders)
    train = _labelled(root, classes)
    counts = np.bincount([label for _, label in train], minlength=len(classes))
    if counts.min() < 2:
        raise LthError(
            f"class folder {root / classes[int(counts.argmin())]} has 1 image; a class needs 2 or "
            "more (one is held out for testing): add images, or give train/ and test/ folders"
        )
    return Listing(classes, train, None)


def _scan_split(root: Path, folders: list[str]) -> Listing:
    for have, lack in (SPLIT_FOLDERS, SPLIT_FOLDERS[::-1]):
        if have in folders and lack not in folders:
            raise LthError(
                f"{root} has {have}/ but no {lack}/; add {lack}/<class>/ images, or move the class "
                f"folders up into {root} to split off {TEST_FRACTION:.0%} for testing"
            )
    others = [f for f in folders if f not in SPLIT_FOLDERS]
    if others:
        raise LthError(
            f"{root} has {others[0]}/ beside train/ and test/; remove it (validation images "
            "are taken from train/, see data.val_size)"
        )
    train_classes = _classes(root / "train", _subfolders(root / "train"))
    test_classes = tuple(_subfolders(root / "test"))
    if test_classes != train_classes:
        only_train = sorted(set(train_classes) - set(test_classes))
        only_test = sorted(set(test_classes) - set(train_classes))
        where, name = ("test", only_train[0]) if only_train else ("train", only_test[0])
        raise LthError(
            f"{root / where} lacks the class folder {name!r} that the other split has; "
            "give train/ and test/ the same class folders"
        )
    return Listing(
        train_classes,
        _labelled(root / "train", train_classes),
        _labelled(root / "test", train_classes),
    )


def _subfolders(folder: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


def _classes(folder: Path, names: list[str]) -> tuple[str, ...]:
    if not names:
        if not any(not e.name.startswith(".") for e in os.scandir(folder)):
            raise LthError(f"folder {folder} is empty; put one subfolder of images per class in it")
        raise LthError(
            f"folder {folder} has no class subfolders; put each class's images in its own "
            f"subfolder, e.g. {folder / 'cats'}/1.jpg"
        )
    if len(names) == 1:
        raise LthError(
            f"folder {folder} has one class folder ({names[0]}); add a subfolder per class (2 or more)"
        )
    return tuple(names)


def _labelled(folder: Path, classes: tuple[str, ...]) -> list[tuple[Path, int]]:
    out = []
    for label, name in enumerate(classes):
        images = image_files(folder / name)
        if not images:
            raise LthError(
                f"class folder {folder / name} has no images ({' '.join(IMAGE_SUFFIXES)}); "
                "add some or remove the folder"
            )
        out.extend((p, label) for p in images)
    return out


def image_files(folder: Path) -> list[Path]:
    """Image files under `folder`, recursively, sorted; hidden files and folders skipped.

    An image name that is not a regular file (a FIFO, socket, device or broken link)
    is refused by name: opening a FIFO would wait for a writer forever.
    """
    found = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(
            Path(here) / f
            for f in files
            if not f.startswith(".") and f.lower().endswith(IMAGE_SUFFIXES)
        )
    for path in found:
        kind = what_is(path)
        if kind != "a file":
            raise LthError(
                f"image {path} is {kind}, not a file; remove it or put the image file there"
            )
    return sorted(found)


# -- pixels ----------------------------------------------------------------------------------


def decode_all(paths: list[Path], size: int) -> np.ndarray:
    """(N, size, size, 3) uint8 images, or (N, size, size, 1) when every one is grey."""
    x = np.empty((len(paths), size, size, 3), np.uint8)
    grey = True
    for i, path in enumerate(paths):
        x[i] = decode(path, size)
        grey = grey and _is_grey(x[i])
    return np.ascontiguousarray(x[..., :1]) if grey else x


def decode(path: Path, size: int) -> np.ndarray:
    """One image as (size, size, 3) uint8 RGB; LthError naming the file if unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.draft("RGB", (size, size))  # JPEG: decode at the smallest scale >= size
            rgb = im.convert("RGB")
            if rgb.size != (size, size):
                rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(rgb, np.uint8)
    # Pillow's decoders raise many exception types on damaged files (OSError,
    # SyntaxError, ValueError, struct.error, DecompressionBombError, ...).
    except Exception as e:  # noqa: BLE001
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise LthError(f"cannot read image {path} ({reason}); replace or remove the file") from None


def _is_grey(img: np.ndarray) -> bool:
    return bool((img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all())


# -- splits ------------------------------------------------------------------------------------


def split_off_test(labels: np.ndarray, seed: int) -> np.ndarray:
    """Sorted indices of TEST_FRACTION of each class (rounded, at least one), seeded."""
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n = max(1, int(len(idx) * TEST_FRACTION + 0.5))
        picked.append(rng.permutation(idx)[:n])
    return np.sort(np.concatenate(picked))


def capped_val_size(val_size: int, train_labels: np.ndarray, num_classes: int) -> int:
    """`val_size`, at most MAX_VAL_FRACTION of the training images (but one per class),
    and small enough that every class keeps a training image (`stratified_split`
    takes at most all but one image of a class, so that is `len - num_classes`)."""
    cap = max(num_classes, int(len(train_labels) * MAX_VAL_FRACTION))
    return int(max(0, min(val_size, cap, len(train_labels) - num_classes)))
