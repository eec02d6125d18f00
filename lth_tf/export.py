"""Export a ticket: a plain tf_keras model (wrappers stripped) as a SavedModel.

The SavedModel loads with `tf.saved_model.load` and `tf_keras.models.load_model`
in a process that never imported lth_tf.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from lth_tf._keras import keras  # noqa: F401  (arranges Keras 2 before TF loads)


def export_savedmodel(model, path: str | Path) -> Path:
    """Write `model` as a SavedModel at `path`, replacing an older export atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    model.save(str(tmp / "model"), save_format="tf", include_optimizer=False)
    if path.exists():
        shutil.rmtree(path)
    (tmp / "model").rename(path)
    shutil.rmtree(tmp, ignore_errors=True)
    return path


def directory_size(path: str | Path) -> int:
    """Bytes of all files below `path`."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def gzip_size(path: str | Path) -> int:
    """Bytes of the folder packed as .tar.gz (what sharing it costs)."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=9) as tar:
        tar.add(str(path), arcname=Path(path).name)
    return buf.tell()


def size_report(path: str | Path) -> list[str]:
    raw, gz = directory_size(path), gzip_size(path)
    return [f"SavedModel size: {raw / 1e6:.3f} MB raw, {gz / 1e6:.3f} MB gzip ({path})"]
