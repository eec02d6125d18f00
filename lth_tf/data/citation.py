"""Cora through Spektral's `Citation`, with the Planetoid split (140/500/1000).

Two things differ from calling `spektral.datasets.Citation("cora")` directly:

- spektral 1.3.1's `Citation.read` densifies the feature matrices with the
  sparse `.A` attribute, which scipy 1.14 removed (spektral issue #460). While
  our subclass reads, Spektral's file reader hands back dense arrays, so that
  line never meets a sparse matrix; everything else is Spektral's own code.
- Offline, the data folder holds `citation/ind.cora.*`. Our subclass points
  Spektral's `path` straight at that folder: `read` only reads, so a read-only
  folder works and nothing is copied. Without a folder Spektral downloads into
  its usual `~/spektral/datasets/Citation/cora`.

Features are row-normalised and the adjacency GCN-normalised here (not with
Spektral's `normalize_x`, which prints to stdout).
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import threading
from pathlib import Path

import numpy as np
import scipy.sparse as sp

# _keras first: Spektral imports TensorFlow itself, and Keras 2 must be arranged before.
from lth_tf._keras import tf  # noqa: F401
from lth_tf.data.base import GraphData, gcn_normalise, row_normalise
from lth_tf.errors import LthError

# isort: split
from spektral.datasets import citation as _spektral_citation

log = logging.getLogger(__name__)

NAME = "cora"
FILES = tuple(f"ind.{NAME}.{s}" for s in _spektral_citation.Citation.suffixes)
HINT = "point --data-dir or LTH_DATA_DIR at a folder holding citation/ind.cora.*"
_patch_lock = threading.Lock()


def load(cfg, data_dir: Path | None, seed: int) -> GraphData:
    """Cora as one GraphData. `cfg` and `seed` are unused: the Planetoid split is fixed."""
    folder = None
    if data_dir is not None:
        folder = Path(data_dir).expanduser() / "citation"
        missing = _missing(folder)
        if missing:
            raise LthError(f"no Cora in {folder} (missing {', '.join(missing)}); {HINT}")
    ds = _Cora(folder)
    g = ds[0]
    return GraphData(
        x=row_normalise(g.x),
        a=gcn_normalise(g.a),
        y=np.argmax(g.y, axis=1).astype(np.int64),
        train_mask=np.asarray(ds.mask_tr, bool),
        val_mask=np.asarray(ds.mask_va, bool),
        test_mask=np.asarray(ds.mask_te, bool),
        num_classes=int(g.y.shape[1]),
        name=NAME,
    )


def _missing(folder: Path) -> list[str]:
    return [f for f in FILES if not (folder / f).is_file()]


class _Cora(_spektral_citation.Citation):
    """Spektral's Citation("cora") reading from `folder` (or its default), scipy-safe."""

    def __init__(self, folder: Path | None):
        self._folder = folder  # set before super().__init__, which reads `path`
        super().__init__(NAME, random_split=False, normalize_x=False)

    @property
    def path(self) -> str:
        return str(self._folder) if self._folder is not None else super().path

    def read(self):
        # Spektral skips download() whenever its folder exists, even half-filled
        # by an earlier failed download; fetch what is missing in that case.
        if self._folder is None and _missing(Path(self.path)):
            self.download()
        with _patch_lock, _dense_file_reader():
            return super().read()

    def download(self):
        if self._folder is not None:  # never reached: load() checked the files
            raise LthError(f"no Cora in {self._folder}; {HINT}")
        target = Path(self.path)
        existed = target.exists()
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # Spektral prints progress
                super().download()
        except (OSError, ValueError) as e:  # requests' errors are OSErrors; 404 is a ValueError
            if not existed:  # leave no half-filled folder that Spektral would trust
                shutil.rmtree(target, ignore_errors=True)
            raise LthError(
                f"could not download Cora into {target} ({type(e).__name__}); {HINT}"
            ) from None
        if _missing(target):
            raise LthError(f"download of Cora into {target} is incomplete; {HINT}")


@contextlib.contextmanager
def _dense_file_reader():
    """Make Spektral's `_read_file` return dense arrays (the scipy>=1.14 `.A` fix)."""
    original = _spektral_citation._read_file

    def read_dense(path, name, suffix):
        obj = original(path, name, suffix)
        return obj.toarray() if sp.issparse(obj) else obj

    _spektral_citation._read_file = read_dense
    try:
        yield
    finally:
        _spektral_citation._read_file = original
