"""Cora, Citeseer and PubMed through Spektral's `Citation`, with the Planetoid split.

What differs from calling `spektral.datasets.Citation(name)` directly:

- The files are read and checked by `planetoid.read` first (a corrupt file is one
  LthError line, not a segfault or a traceback from inside Spektral). Spektral's
  `Citation.read` then assembles the graph from those checked objects: our
  subclass swaps Spektral's file reader for a lookup while it reads.
- spektral 1.3.1's `Citation.read` densifies the feature matrices with the
  sparse `.A` attribute, which scipy 1.14 removed (spektral issue #460). The
  lookup hands back dense arrays, so that line never meets a sparse matrix.
- Offline, the data folder holds `citation/ind.NAME.*` and is only read. Without
  a folder Spektral downloads into its usual `~/spektral/datasets/Citation/NAME`.

Split sizes (train/val/test): Cora 140/500/1000 of 2708 nodes, Citeseer 120/500/1000
of 3327 (Spektral pads the 15 test-index gaps with featureless, unlabelled nodes),
PubMed 60/500/1000 of 19717. Features are row-normalised and the adjacency
GCN-normalised here (not with Spektral's `normalize_x`, which prints to stdout).
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from lth_tf.core.errors import LthError
from lth_tf.keras_side.data import planetoid
from lth_tf.keras_side.data.graph import GraphData, gcn_normalise, row_normalise

# _keras first: Spektral imports TensorFlow itself, and Keras 2 must be arranged before.
from lth_tf.platform.backend import check_spektral_keras

# isort: split
from spektral.datasets import citation as _spektral_citation

log = logging.getLogger(__name__)

_patch_lock = threading.Lock()


def load(name: str, files: dict[str, Any] | None = None) -> GraphData:
    """One Planetoid data set as GraphData.

    `files` are `planetoid.read`'s checked objects (read before TensorFlow is
    imported when a data folder is given); None downloads them with Spektral.
    """
    check_spektral_keras()  # a program that used tf.keras (Keras 3) before lth_tf: one clear line
    if files is None:
        files = planetoid.read(download(name), name)
    ds = _Citation(name, files)
    g = ds[0]
    return GraphData(
        features_row_normalised=True,
        x=row_normalise(g.x),
        a=gcn_normalise(g.a),
        y=np.argmax(g.y, axis=1).astype(np.int64),
        train_mask=np.asarray(ds.mask_tr, bool),
        val_mask=np.asarray(ds.mask_va, bool),
        test_mask=np.asarray(ds.mask_te, bool),
        num_classes=int(g.y.shape[1]),
        name=name,
    )


def default_folder(name: str) -> Path:
    """Where Spektral keeps its download (read at call time: tests move it)."""
    return Path(_spektral_citation.DATASET_FOLDER) / "Citation" / name


def download(name: str) -> Path:
    """Spektral's download folder of `name`, fetching the files it lacks."""
    target = default_folder(name)
    # Spektral skips download() whenever its folder exists, even half-filled by
    # an earlier failed download; fetch what is missing in that case.
    if not planetoid.missing(target, name):
        return target
    existed = target.exists()
    what, hint = planetoid.title(name), planetoid.hint(name)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # Spektral prints progress
            _spektral_citation.Citation.download(_Named(name, target))
    except (OSError, ValueError) as e:  # requests' errors are OSErrors; 404 is a ValueError
        if not existed:  # leave no half-filled folder that Spektral would trust
            shutil.rmtree(target, ignore_errors=True)
        raise LthError(
            f"could not download {what} into {target} ({type(e).__name__}); {hint}"
        ) from None
    if planetoid.missing(target, name):
        raise LthError(f"download of {what} into {target} is incomplete; {hint}")
    return target


class _Named:
    """What Spektral's `Citation.download` reads from `self` (name, path, url, suffixes).

    A real Citation instance would read the files on construction, before they exist.
    """

    def __init__(self, name: str, path: Path):
        self.name, self.path, self.url = name, str(path), _spektral_citation.Citation.url
        self.suffixes = _spektral_citation.Citation.suffixes


class _Citation(_spektral_citation.Citation):
    """Spektral's Citation(name) assembling the graph from already checked files."""

    def __init__(self, name: str, files: dict[str, Any]):
        self._files = files  # set before super().__init__, which calls read()
        super().__init__(name, random_split=False, normalize_x=False)

    def download(self):
        # Spektral calls this when its default folder is absent; the files were
        # already read (offline folder or `download(name)`), so nothing to fetch.
        pass

    def read(self):
        with _patch_lock, _lookup_reader(self._files):
            return super().read()


@contextlib.contextmanager
def _lookup_reader(files: dict[str, Any]):
    """Make Spektral's `_read_file` return our checked objects, sparse ones dense."""
    original = _spektral_citation._read_file

    def lookup(path, name, suffix):
        obj = files[suffix]
        return obj.toarray() if sp.issparse(obj) else obj

    _spektral_citation._read_file = lookup
    try:
        yield
    finally:
        _spektral_citation._read_file = original
