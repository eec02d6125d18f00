"""CIFAR-10: Keras' download online; offline, a JPEG archive or Keras' own pickles.

Sources, in order:
- no data folder: `keras.datasets.cifar10.load_data()` (downloads, or reads
  Keras' cache in ~/.keras/datasets);
- a folder holding `cifar10-jpeg.tar.gz` (`train|test/<class>/NNNN.jpg`):
  decoded with Pillow once, then cached as .npy files under $LTH_CACHE_DIR keyed by the
  archive's size and mtime. Decoding takes seconds; the cache loads in well
  under one. The data folder may be read-only, so nothing is written there;
- a folder holding Keras' cache, `cifar-10-batches-py/` or
  `datasets/cifar-10-batches-py/` (the python pickles).
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import pickle
import shutil
import tarfile
import time
import zlib
from pathlib import Path

import numpy as np

from lth_tf.core.cache import cache_dir
from lth_tf.core.errors import LthError
from lth_tf.core.paths import what_is
from lth_tf.keras_side.data.assemble import make_image_data
from lth_tf.keras_side.data.images import ImageData

log = logging.getLogger(__name__)

# Keras' label order; the archive's class folders carry these names.
CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
ARCHIVE = "cifar10-jpeg.tar.gz"
PICKLE_DIRS = ("cifar-10-batches-py", "datasets/cifar-10-batches-py")
HINT = (
    "point --data-dir or LTH_DATA_DIR at a folder holding cifar10-jpeg.tar.gz "
    "or Keras' cifar-10-batches-py"
)
CACHE_VERSION = 1  # bump when the cached arrays change meaning


def load(cfg, data_dir: Path | None, seed: int) -> ImageData:
    """CIFAR-10 split into train/val (stratified, seeded) and the official test set."""
    (x_train, y_train), (x_test, y_test) = read_arrays(data_dir)
    return make_image_data(
        x_train,
        y_train,
        x_test,
        y_test,
        cfg,
        seed,
        num_classes=len(CLASSES),
        name="cifar10",
        class_names=CLASSES,
    )


def read_arrays(data_dir: Path | None):
    """((x_train, y_train), (x_test, y_test)): uint8 NHWC images, int64 labels."""
    if data_dir is None:
        return _from_keras()
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        kind = what_is(folder)
        found = "does not exist" if kind == "missing" else f"is {kind}, not a folder"
        raise LthError(f"data folder {folder} {found}; {HINT}")
    if (folder / ARCHIVE).is_file():
        return _from_archive(folder / ARCHIVE)
    if what_is(folder / ARCHIVE) != "missing":  # a FIFO would block, a folder is not the archive
        raise LthError(f"{folder / ARCHIVE} is {what_is(folder / ARCHIVE)}, not a file; {HINT}")
    for sub in PICKLE_DIRS:
        if (folder / sub).is_dir():
            return _from_pickles(folder / sub)
    raise LthError(f"no CIFAR-10 in {folder}; {HINT}")


# -- Keras download -------------------------------------------------------------------


def _from_keras():
    from lth_tf.platform.backend import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    # Keras re-raises download failures as a bare Exception, so nothing narrower catches them.
    except Exception as e:  # noqa: BLE001
        folder = Path("~/.keras/datasets").expanduser()
        raise LthError(
            f"could not download CIFAR-10 into {folder} ({type(e).__name__}); {HINT}"
        ) from None
    return (x_train, y_train.reshape(-1).astype(np.int64)), (
        x_test,
        y_test.reshape(-1).astype(np.int64),
    )


# -- JPEG archive + cache ----------------------------------------------------------------


ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def cache_path(archive: Path) -> Path:
    """Folder of .npy files for this archive, named by its size and mtime."""
    st = archive.stat()
    return cache_dir() / f"cifar10-jpeg-v{CACHE_VERSION}-{st.st_size}-{st.st_mtime_ns}"


def _from_archive(archive: Path):
    cached = cache_path(archive)
    if cached.is_dir():
        try:
            return _read_cache(cached)
        except (OSError, ValueError, EOFError) as e:  # a damaged cache: decode again
            log.warning("ignoring unreadable cache %s (%s)", cached, e)
    t0 = time.perf_counter()
    arrays = decode_archive(archive)
    log.info("decoded %s in %.1f s", archive, time.perf_counter() - t0)
    _write_cache(cached, arrays)
    return arrays


def _read_cache(folder: Path):
    # Training images stay memory-mapped: the split's gather copies them out of
    # the page cache once, several times faster than np.load followed by that gather.
    a = {k: np.load(folder / f"{k}.npy", mmap_mode="r") for k in ARRAYS}
    copy = {k: np.array(a[k]) for k in ("y_train", "x_test", "y_test")}
    return (a["x_train"], copy["y_train"]), (copy["x_test"], copy["y_test"])


def decode_archive(archive: Path):
    """Decode every `train|test/<class>/*.jpg`, sorted by (split, class, file name)."""
    found: dict[str, list[tuple[int, str, np.ndarray]]] = {"train": [], "test": []}
    try:
        # gzip rather than tarfile's "r|gz": it checks the CRC at the end, so flipped
        # bits that still decompress are caught. "r|" streams the tar once, front to back.
        with gzip.open(archive, "rb") as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
            for member in tar:
                parts = member.name.strip("./").split("/")
                if not member.isfile() or len(parts) != 3 or not parts[2].endswith(".jpg"):
                    continue
                split, cls, fname = parts
                if split not in found:
                    continue
                if cls not in CLASSES:
                    raise LthError(
                        f"{archive} has an unknown class folder '{split}/{cls}'; "
                        f"expected {', '.join(CLASSES)}"
                    )
                pixels = _decode_jpeg(tar.extractfile(member).read(), archive, member.name)
                found[split].append((CLASSES.index(cls), fname, pixels))
            while gz.read(1 << 20):  # read to the end: that is when gzip checks the CRC
                pass
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise LthError(
            f"cannot read {archive} ({reason}); replace it with a complete copy"
        ) from None
    out = []
    for split in ("train", "test"):
        items = sorted(found[split], key=lambda t: (t[0], t[1]))
        if not items:
            raise LthError(f"{archive} has no {split}/<class>/*.jpg images; {HINT}")
        shapes = {it[2].shape for it in items}
        if len(shapes) != 1:
            raise LthError(f"{archive} mixes image sizes {sorted(shapes)}; use a CIFAR-10 copy")
        x = np.stack([it[2] for it in items])
        y = np.array([it[0] for it in items], np.int64)
        out.append((x, y))
    return tuple(out)


def _decode_jpeg(data: bytes, archive: Path, member: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    # Pillow raises many exception types on damaged images (OSError, SyntaxError, ...).
    except Exception as e:  # noqa: BLE001
        raise LthError(
            f"{archive}: {member} is not a readable JPEG ({type(e).__name__}); "
            "replace the archive with a complete copy"
        ) from None


def _write_cache(folder: Path, arrays) -> None:
    """Write the .npy files into a temp folder, then rename it into place (atomic)."""
    (x_train, y_train), (x_test, y_test) = arrays
    values = dict(zip(ARRAYS, (x_train, y_train, x_test, y_test)))
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        for k, v in values.items():
            np.save(tmp / f"{k}.npy", v)
        os.replace(tmp, folder)
    except OSError as e:  # unwritable cache, or another process won the race
        if not folder.is_dir():
            log.warning("could not cache decoded CIFAR-10 at %s (%s); set LTH_CACHE_DIR", folder, e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- Keras' pickles -------------------------------------------------------------------------


def _from_pickles(folder: Path):
    names = [f"data_batch_{i}" for i in range(1, 6)]
    missing = [n for n in names + ["test_batch"] if not (folder / n).is_file()]
    if missing:
        raise LthError(f"{folder} lacks {', '.join(missing)}; {HINT}")
    train = [_read_batch(folder / n) for n in names]
    x_train = np.concatenate([b[0] for b in train])
    y_train = np.concatenate([b[1] for b in train])
    return (x_train, y_train), _read_batch(folder / "test_batch")


def _read_batch(path: Path):
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        data = np.asarray(d[b"data"], np.uint8)
        labels = np.asarray(d[b"labels"], np.int64)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as e:
        raise LthError(f"cannot read CIFAR-10 batch {path} ({e}); {HINT}") from None
    # Stored as (N, 3072) channel-major rows: the same transform Keras applies.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels
