"""Data sets by name: `load(cfg.data, data_dir, seed) -> ImageData | GraphData`.

The registry maps each name in `lth_tf.core.config.DATASETS` to a loader that
imports its module only when called, so `import lth_tf.keras_side.data` pulls in neither
TensorFlow nor Spektral (both take seconds to import).

`data_dir` (or $LTH_DATA_DIR) is a folder of offline copies: `cifar10-jpeg.tar.gz`
or Keras' `cifar-10-batches-py/`, and `citation/ind.{cora,citeseer,pubmed}.*`.
Without one, the Keras and Spektral downloads run. The folder is only ever read.
`data.name = "folder:PATH"` loads the user's image folder (lth_tf/keras_side/data/folder.py);
`data_dir` does not apply to it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lth_tf.core import sources
from lth_tf.core.errors import LthError

if TYPE_CHECKING:
    from lth_tf.core.config import Data
    from lth_tf.keras_side.data.graph import GraphData
    from lth_tf.keras_side.data.images import ImageData


def _cifar10(cfg: Data, data_dir: Path | None, seed: int) -> ImageData:
    from lth_tf.keras_side.data import cifar10

    return cifar10.load(cfg, data_dir, seed)


def _planetoid(name: str):
    def load_citation(cfg: Data, data_dir: Path | None, seed: int) -> GraphData:
        """The Planetoid split is fixed: `cfg` and `seed` are unused."""
        from lth_tf.keras_side.data import planetoid

        # Read and check the files before TensorFlow and Spektral are imported.
        files = None if data_dir is None else planetoid.read(data_dir / "citation", name)
        from lth_tf.keras_side.data import citation

        return citation.load(name, files)

    return load_citation


def _synthetic_images(cfg: Data, data_dir: Path | None, seed: int) -> ImageData:
    from lth_tf.keras_side.data import synthetic

    return synthetic.load_images(cfg, data_dir, seed)


def _synthetic_graph(cfg: Data, data_dir: Path | None, seed: int) -> GraphData:
    from lth_tf.keras_side.data import synthetic

    return synthetic.load_graph(cfg, data_dir, seed)


REGISTRY = {
    "cifar10": _cifar10,
    "cora": _planetoid("cora"),
    "citeseer": _planetoid("citeseer"),
    "pubmed": _planetoid("pubmed"),
    "synthetic_images": _synthetic_images,
    "synthetic_graph": _synthetic_graph,
}


def resolve_data_dir(data_dir: str | Path | None = None) -> Path | None:
    """The explicit folder, else $LTH_DATA_DIR, else None (download)."""
    chosen = data_dir if data_dir not in (None, "") else os.environ.get("LTH_DATA_DIR")
    return Path(chosen).expanduser() if chosen else None


def load(cfg: Data, data_dir: str | Path | None = None, seed: int = 0) -> ImageData | GraphData:
    """Load the data set `cfg.name` (see the module docstring for where from)."""
    if cfg.name == sources.PYTHON:
        raise LthError(
            "this run's data was given from Python (lth_tf.TicketSearch), so no config can "
            "load it; resume the run from Python with the same model, settings and data"
        )
    if sources.is_user_data(cfg.name):
        from lth_tf.keras_side.data import folder

        return folder.load(cfg, seed)
    loader = REGISTRY.get(cfg.name)
    if loader is None:
        raise LthError(
            f"No such dataset: '{cfg.name}'; use data.name = one of {', '.join(REGISTRY)} or folder:PATH"
        )
    return loader(cfg, resolve_data_dir(data_dir), seed)


def __getattr__(name: str) -> Any:
    # `from lth_tf.keras_side.data import ImageData` works without importing TF up front.
    if name == "ImageData":
        from lth_tf.keras_side.data.images import ImageData

        return ImageData
    if name == "GraphData":
        from lth_tf.keras_side.data.graph import GraphData

        return GraphData
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["REGISTRY", "GraphData", "ImageData", "load", "resolve_data_dir"]
