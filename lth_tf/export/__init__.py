"""Export a ticket: a plain tf_keras model (wrappers stripped) as a SavedModel.

Its serving signatures (raw uint8 images, the graph's COO or dense inputs) are
built in lth_tf.export.signatures and described in the marker JSON.

The SavedModel loads with `tf.saved_model.load` and `tf_keras.models.load_model`
in a process that never imported lth_tf (nor Spektral), and computes the same
outputs as the stripped model; pruned kernel entries are stored as exact zeros.

Graph layers: Spektral's `Conv` layers (our `PrunableGCNConv` is one) replace
their `call` with an instance attribute in `__init__`, which Keras' SavedModel
tracing calls as an unbound method and fails on. `exportable` swaps each such
layer for a subclass of its Spektral base class, of the same name and config,
that keeps the class's own `call` (the dropped wrapper only casts integer
adjacency matrices to float). The SavedModel then records the class name
`GCNConv` with Spektral's config, so `load_model` revives it from the saved
traces without any custom object, or rebuilds a real Spektral layer when given
`custom_objects={"GCNConv": spektral.layers.GCNConv}`.

Sizes: a pruned kernel is stored dense, so the raw size of a ticket equals the
dense model's; its zeros show in the gzip size (what sharing the export costs).
"""

from __future__ import annotations

import functools
import io
import json
import logging
import shutil
import tarfile
from pathlib import Path
from typing import Any

from lth_tf.core import paths
from lth_tf.core.errors import LthError
from lth_tf.export import keep
from lth_tf.storage import atomic

# No TensorFlow at import: the CLI checks an export target before loading TF.
# `exportable` imports it (via lth_tf.platform.backend, which arranges Keras 2 first).

SAVED_MODEL_FILE = "saved_model.pb"
# Written into every folder lth-tf exports: only folders holding it are ever replaced.
MARKER_FILE = "lth-tf-export.json"

log = logging.getLogger(__name__)

# Keras warns on every save of an uncompiled model that its (absent) compiled
# metrics are not built; the export is for inference, so the line is noise.
_UNCOMPILED_WARNING = "Compiled the loaded model, but the compiled metrics"


class _DropUncompiledWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _UNCOMPILED_WARNING not in record.getMessage()


TFLITE_FILE = "model.tflite"  # lth_tf.export.tflite.MODEL_FILE (that module imports TF)
KERAS_FILE = "model.keras"  # the keras format's file (lth_tf/export/keras3_ticket.py writes it)
SINGLE_FILES = (TFLITE_FILE, KERAS_FILE)  # formats that write one file beside the marker
# Top-level names of an export whose marker has no file list (written before it had one):
# a SavedModel's (its Keras metadata too), the single-file formats' and the marker.
LEGACY_NAMES = frozenset(
    {SAVED_MODEL_FILE, "fingerprint.pb", "keras_metadata.pb", "variables", "assets", MARKER_FILE, *SINGLE_FILES}
)


def is_savedmodel(path: str | Path) -> bool:
    return (Path(path) / SAVED_MODEL_FILE).is_file()


def is_our_export(path: str | Path) -> bool:
    """A folder lth-tf exported: a SavedModel holding our marker file."""
    marker = Path(path) / MARKER_FILE
    try:
        written_by = json.loads(marker.read_text(encoding="utf-8")).get("written_by")
    except (OSError, ValueError, AttributeError):
        return False
    return written_by == "lth-tf" and (
        is_savedmodel(path) or any((Path(path) / name).is_file() for name in SINGLE_FILES)
    )


def description(path: str | Path) -> dict[str, Any]:
    """The marker JSON of an export of ours: its signatures, normalisation, class names."""
    return json.loads((Path(path) / MARKER_FILE).read_text(encoding="utf-8"))


def usage(path: str | Path) -> list[str]:
    """A line naming the export's signatures, then three lines of Python that call it
    (a fourth for a graph model: its raw COO signature)."""
    from lth_tf.export import signatures as sig

    doc = description(path)
    if doc.get("format") == "TFLite":
        from lth_tf.export import tflite

        head = f"call it (inputs and outputs in {Path(path) / MARKER_FILE}):"
        return [head] + [f"    {line}" for line in tflite.usage(str(path))]
    if doc.get("format") == "Keras":
        from lth_tf.export import keras3_ticket

        outputs = ", ".join(doc.get("outputs") or {}) or "its outputs"
        head = f"load it with Keras 3 (returns {outputs}; inputs and outputs in {Path(path) / MARKER_FILE}):"
        return [head] + [f"    {line}" for line in keras3_ticket.usage(str(path))]
    listed = ", ".join(sig.names(doc)) or "serving_default"
    head = f"call it (signatures: {listed}; inputs and outputs in {Path(path) / MARKER_FILE}):"
    return [head] + [f"    {line}" for line in sig.usage(str(path), doc)]


def check_target(path: str | Path, source: dict[str, Any] | None = None, force: bool = False) -> Path:
    """Refuse a target that exists and is not an export of ours (never touch user files), and,
    unless `force`, an export of ours that came from another run than `source`.

    `source` (`export_source`) names the run being exported. An export records its own
    in its marker (`source`); one inside the run's own folder (ticket/, exports/) is the
    run's, even when its marker names another path (the run was copied or moved), and
    one without a source (an older lth-tf) elsewhere counts as another run's.
    """
    path = Path(path)
    if (path.exists() or path.is_symlink()) and not (
        path.is_dir() and not path.is_symlink() and is_our_export(path)
    ):
        kind = paths.what_is(path).removeprefix("a ").removeprefix("an ")  # a FIFO is no "file"
        raise LthError(
            f"export target {path} is an existing {kind} that lth-tf did not export "
            f"(no {MARKER_FILE}); give a new path (only an older export of lth-tf is replaced)"
        )
    if source is not None and not force and path.exists():
        theirs = description(path).get("source")
        mine = Path(source["run_dir"]).resolve()
        inside = path.resolve().is_relative_to(mine)
        if isinstance(theirs, dict) and not inside and Path(str(theirs.get("run_dir"))).resolve() != mine:
            raise LthError(
                f"export target {path} holds round {theirs.get('round')} of another run "
                f"({theirs.get('run_dir')}); pass --force to replace it (force=True from Python), "
                "or give a new path"
            )
        if not isinstance(theirs, dict) and not inside:
            raise LthError(
                f"export target {path} holds an export that does not say which run it came from "
                "(an older lth-tf wrote it); pass --force to replace it (force=True from Python), "
                "or give a new path"
            )
    return path


def export_source(run_dir: str | Path, config_hash: str | None, round: int) -> dict[str, Any]:
    """What an export records about where it came from (its marker's `source`)."""
    return {"run_dir": str(Path(run_dir).resolve()), "config_hash": config_hash, "round": int(round)}


def export_format(name: str):
    """The export format `name` (lth_tf/export/formats/); LthError naming the formats otherwise."""
    from lth_tf.export import formats

    try:
        return formats.get(name)
    except ValueError:
        raise LthError(f"export format '{name}' is unknown; use one of {', '.join(formats.NAMES)}") from None


def export_savedmodel(
    model,
    path: str | Path,
    data: Any = None,
    format: str = "dense",
    pruned: Any = None,
    sparse_threshold: float | None = None,
    source: dict[str, Any] | None = None,
    force: bool = False,
    timing: bool = True,
) -> Path:
    """Write `model` as a SavedModel at `path`, replacing an older export of ours.

    `format`: a name of lth_tf/export/formats/: "dense" (a Keras SavedModel,
    kernels with their zeros), "sparse" (lth_tf.export.sparse: pruned kernels as
    bit mask + nonzero values, only for `tf.saved_model.load`), "tflite"
    (lth_tf.export.tflite), "narrow" (written as dense: `model` is already the
    narrowed one) or "keras" (`model` is the Keras 3 ticket, lth_tf.export.keras3_ticket);
    `pruned` lists the variables of `model` the sparse export
    packs (default: those lth_tf prunes).

    `data` (the run's ImageData/GraphData, or None) supplies what serving needs
    beyond the weights: mean/std and class names, the graph's normalisation
    (see lth_tf.export.signatures). The marker JSON describes the signatures.

    `source` (`export_source`: the run directory, its config hash and the round) is
    recorded in the marker; an export of another run at `path` is refused unless
    `force` (`check_target`).

    The marker records what the export costs (`cost`: params, nonzero params, MACs and
    nonzero MACs per example, `flops.served_cost`) and, unless `timing` is False (then
    `latency` is null and `latency_skipped` says why), its measured `latency`: median
    seconds per call of the freshly written export at batch 1 and 256 (a graph: the whole
    graph) with the CPU, cores, TensorFlow and date it was measured on
    (lth_tf/export/latency.py; a few seconds).

    `path` must not exist, or hold an export of ours (LthError otherwise). The
    marker lists the files the export wrote; files a user added to an older export
    at `path` are carried into the new one (lth_tf/export/keep.py). The
    new export is written beside it under a temporary name, marked, and swapped
    in with one atomic exchange where the system has one; otherwise the old
    export is moved aside and moved back if the swap fails (atomic.replace_dir).
    Either way, a failed export leaves the old one as it was. Temporary folders
    of killed exports to the same path are removed first.
    """
    fmt = export_format(format)
    path = check_target(path, source, force)
    if reason := fmt.out_refusal(path):
        raise LthError(f"--format {fmt.name} {reason}")
    # float32 weights: about what a dense export stores (a Keras 3 ticket counts the same way)
    needed = 4 * int(getattr(model, "count_params", lambda: 0)())
    with atomic.writing(path, needed or None):  # a full disk names the export, not its temporary folder
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.clean_leftovers([path.parent], target=path.name)
        write = fmt.writer(model, data, pruned, sparse_threshold)
        return _write_export(path, write, lambda new: _measured(fmt, model, data, new, timing), format, source, force)


def _measured(fmt, model, data: Any, new: Path, timing: bool) -> dict[str, Any]:
    """The marker's `cost` and `latency` fields of the export just written into `new`.

    The export is complete before it is timed: a serving function that cannot be called
    on random inputs here is a logged warning and a null latency with the error, not a
    failed export."""
    from lth_tf.export import latency

    cost = fmt.cost(model, data)
    if not timing:
        return {"cost": cost, **latency.skipped(latency.NOT_TIMED)}
    try:
        timed = fmt.latency(new, data)
    except Exception as e:  # noqa: BLE001  (TensorFlow raises many kinds; the export stands)
        log.warning("the export was not timed: %s: %s", type(e).__name__, e)
        timed = latency.skipped(f"timing failed: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}")
    return {"cost": cost, **timed}


def _write_export(path: Path, write, measure, format: str, source: dict[str, Any] | None, force: bool) -> Path:
    """`write` into a temporary folder beside `path`, `measure` it, mark it, then swap it in (see above)."""
    work = atomic.temp_dir(path.parent, path.name)
    new = work / "new"
    tf_log = logging.getLogger("tensorflow")
    quiet = _DropUncompiledWarning()
    tf_log.addFilter(quiet)
    try:
        described = write(new)
        files = sorted([*keep.listing(new), MARKER_FILE])
        marker = {"written_by": "lth-tf", "format": "SavedModel", **described, **measure(new), "files": files}
        if source is not None:
            marker["source"] = {**source, "export_format": format}
        atomic.write_json_atomic(new / MARKER_FILE, marker)
        check_target(path, source, force)  # still ours (or absent) now that the new export is ready
        if path.exists():  # what the user put into the old export goes into the new one
            keep.carry(path, new, description(path).get("files"), LEGACY_NAMES)
        atomic.replace_dir(new, path, spare=work / atomic.SPARE_NAME)
    finally:
        tf_log.removeFilter(quiet)
        if not ((work / atomic.SPARE_NAME).exists() and not path.exists()):
            shutil.rmtree(work, ignore_errors=True)
        # else the old export could not be put back: its only copy stays in `work`,
        # which the next export to `path` (or run) restores (atomic.clean_leftovers).
    return path


# -- graph layers ------------------------------------------------------------------------
def _spektral_base(cls: type) -> type | None:
    """The first Spektral class in `cls`'s MRO, if `cls` is a Spektral Conv layer."""
    for c in cls.__mro__:
        if c.__module__.startswith("spektral.layers.convolutional") and c.__name__ != "Conv":
            return c
    return None


@functools.cache  # one subclass per Spektral class: the same class on every export
def _export_class(base: type) -> type:
    def __init__(self, *args, **kwargs):
        base.__init__(self, *args, **kwargs)
        # Spektral's Conv.__init__ sets `self.call = check_dtypes_decorator(self.call)`.
        self.__dict__.pop("call", None)

    return type(base.__name__, (base,), {"__init__": __init__})


def exportable(model):
    """`model`, or a copy with Spektral conv layers made SavedModel-safe (see module doc)."""
    if not any(_spektral_base(type(layer)) for layer in model.layers):
        return model
    from lth_tf.keras_side import clone as cloning
    from lth_tf.platform.backend import keras

    def clone(layer):
        base = _spektral_base(type(layer))
        cls = _export_class(base) if base else layer.__class__
        return cls.from_config(cloning.config(layer))

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


# -- sizes -----------------------------------------------------------------------------------
# Sizes leave out our temporary names (the dense reference `lth-tf export` writes
# inside --out while it measures, see formats/base.py) and what links point to.
def _counted(path: Path, root: Path) -> bool:
    return not any(atomic.TEMP_RE.match(p) for p in path.relative_to(root).parts)


def directory_size(path: str | Path) -> int:
    """Bytes of all files below `path`."""
    root = Path(path)
    return sum(
        f.lstat().st_size
        for f in root.rglob("*")
        if f.is_file() and not f.is_symlink() and _counted(f, root)
    )


def gzip_size(path: str | Path) -> int:
    """Bytes of the folder packed as .tar.gz (what sharing it costs)."""
    buf = io.BytesIO()

    def skip_temp(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(info.name).parts
        return None if any(atomic.TEMP_RE.match(p) for p in parts) else info

    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=9) as tar:
        tar.add(str(path), arcname=Path(path).name, filter=skip_temp)
    return buf.tell()


def sizes(path: str | Path) -> dict[str, int]:
    """{"saved_model_bytes": raw bytes, "gzip_bytes": .tar.gz bytes} of an export."""
    return {"saved_model_bytes": directory_size(path), "gzip_bytes": gzip_size(path)}


def _weights(path: str | Path) -> str:
    """A "; weights X raw, Y gzip" suffix: the variables/ folder alone.

    The graph part of a SavedModel is the same for every round; the weights are
    where pruning shows.
    """
    v = Path(path) / "variables"
    if not v.is_dir():
        return ""
    return f"; weights {_mb(directory_size(v))} raw, {_mb(gzip_size(v))} gzip"


def cost_report(path: str | Path) -> list[str]:
    """One line: what the export's marker says it costs (params, MACs per example) and its
    measured latency with the CPU, or why it was not measured (lth_tf/export/latency.py)."""
    from lth_tf.export import latency

    doc = description(path)
    cost = doc.get("cost")
    parts = []
    if cost:
        per = cost.get("per", "example")
        parts.append(
            f"{cost['params']:,} params ({cost['nonzero_params']:,} nonzero), "
            f"{cost['macs']:,} MACs per {per} ({cost['nonzero_macs']:,} nonzero)"
        )
    if "latency" in doc:
        parts.append(latency.text(doc.get("latency"), doc.get("latency_skipped")))
    return [f"{'cost:':8s} " + "; ".join(parts)] if parts else []


def _mb(n: int) -> str:
    return f"{n / 1e6:.3f} MB"


def size_report(
    path: str | Path, dense: str | Path | dict[str, int] | None = None, label: str = "ticket"
) -> list[str]:
    """Lines giving an export's raw and gzip size, and the dense model's next to it.

    `dense` is the dense (round 0) export's folder or its `sizes()`.
    """
    t = sizes(path)
    lines = [
        (
            f"{label + ':':8s} {_mb(t['saved_model_bytes'])} raw, {_mb(t['gzip_bytes'])} gzip"
            f"{_weights(path)}  ({path})"
        )
    ]
    if dense is not None:
        d = dense if isinstance(dense, dict) else sizes(dense)
        w = _weights(dense) if not isinstance(dense, dict) else ""
        lines.insert(
            0, f"{'dense:':8s} {_mb(d['saved_model_bytes'])} raw, {_mb(d['gzip_bytes'])} gzip{w}"
        )
        ratio = t["gzip_bytes"] / max(1, d["gzip_bytes"])
        lines.append(f"{'':8s} gzip of the {label} is {100 * ratio:.1f}% of the dense model's")
    bound = description(path).get("weights", {}).get("bound_bytes")
    if bound:
        stored = directory_size(Path(path) / "variables")
        lines.append(
            f"{'':8s} variables/ {_mb(stored)} = {stored / bound:.2f}x the bound {_mb(bound)} "
            "(4 B per nonzero pruned weight + 1 bit per pruned weight + 4 B per other weight)"
        )
    return lines
