"""Importing TensorFlow for a command with its start-up chatter filtered from stderr."""

from __future__ import annotations

import os
import re
import sys
import tempfile

# -- TensorFlow's start-up chatter --------------------------------------------------------------
# Lines TF's C++ side prints on import and first device query, whatever
# TF_CPP_MIN_LOG_LEVEL says (they come before absl logging is initialised).
_TF_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|I\d{4} [\d:.]+\s+\d+ \S+\.cc:\d+\] .*"
    r"|[EW]\d{4} [\d:.]+\s+\d+ \S+\.cc:\d+\] .*(cuInit|cuda|CUDA|TensorRT|oneDNN).*"
    r"|To enable the following instructions: .* rebuild TensorFlow .*)$"
)


def _import_tf_quietly() -> None:
    """Import TF (and the modules that import it) with its start-up lines filtered.

    Everything written to stderr meanwhile is captured at the file-descriptor
    level and replayed, minus the known noise. TF_CPP_MIN_LOG_LEVEL=0 keeps it all.
    """
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        _import_tf()
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        _import_tf()
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            _import_tf()
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [
                ln
                for ln in tmp.read().decode(errors="replace").splitlines()
                if ln.strip() and not _TF_NOISE.match(ln)
            ]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def _import_tf() -> None:
    from lth_tf.platform.backend import tf
    from lth_tf.search import lottery  # noqa: F401  (TF, tf_keras, tfmot)

    tf.config.list_physical_devices()  # the CUDA probe logs here, not at import
