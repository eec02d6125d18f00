"""A multi_worker run resumes on every worker from the chief's checkpoints.

At the start of a run the chief sends its stored rounds, controls and rewind
point to the other workers (each writes its own copy of the run under scratch,
see `lth_tf/platform/placement.py`), so all of them resume from the same round
with the same weights and masks.
"""

from __future__ import annotations

import io
import logging
import shutil
import tarfile
from pathlib import Path

from lth_tf.platform import collectives
from lth_tf.platform.platform import Platform
from lth_tf.storage import rundir

log = logging.getLogger(__name__)


def sync_run_dir(run_dir: Path, platform: Platform) -> None:
    """Give every worker the chief's stored rounds, controls and rewind point (multi_worker only).

    The chief packs them; the others replace theirs with the chief's, so all
    workers resume from the same round with the same weights and masks.
    """
    if platform.spec.kind != "multi_worker":
        return
    run_dir = Path(run_dir)
    parts = [rundir.rounds_dir(run_dir), rundir.controls_dir(run_dir), rundir.rewind_path(run_dir)]
    chief = platform.chief
    buf = io.BytesIO()
    if chief:
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for p in parts:
                if p.exists():
                    tar.add(p, arcname=p.relative_to(run_dir).as_posix(), filter=_no_temp)
    received = collectives.broadcast_bytes(platform.strategy, buf.getvalue() if chief else b"")
    if chief:
        return
    for p in parts:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    with tarfile.open(fileobj=io.BytesIO(received), mode="r") as tar:
        tar.extractall(run_dir, filter="data")
    log.info("worker copy %s holds the chief's rounds %s", run_dir, rundir.completed_rounds(run_dir))


def _no_temp(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Leave out temporary files of killed writers (dot names, see atomic.py)."""
    return None if any(part.startswith(".") for part in Path(info.name).parts) else info
