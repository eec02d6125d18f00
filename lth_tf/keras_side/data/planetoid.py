"""The Planetoid citation files `ind.NAME.*`, read and checked before anything uses them.

Pure numpy/scipy (no TensorFlow), so a bad file is reported before TF loads.

Why the checks: the files are pickles, and neither pickle nor Spektral checks
what comes out. A scipy CSR matrix is unpickled by restoring its attributes,
bypassing the constructor's checks, so a few flipped bytes in `ind.cora.x` give
column indices far beyond the matrix; `toarray()` then writes outside its buffer
and the process dies with a segfault. Mismatched row counts surface later as
IndexErrors deep inside Spektral, or not at all (wrong labels on wrong nodes).
Here every file is unpickled with an allow-list of the classes the Planetoid
files use (so a pickle cannot run foreign code either), then every sparse
matrix's structure and every cross-file size is checked, and a bad file is one
LthError line naming it.

What the files hold (Yang et al. 2016, the tkipf/gcn copies Spektral downloads):
x/y the labelled training nodes, allx/ally every non-test node (training nodes
first, the 500 validation nodes right after them), tx/ty the test nodes, whose
node ids are listed in test.index, and graph, a dict of node id -> neighbour ids.
"""

from __future__ import annotations

import codecs
import collections
import copyreg
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from lth_tf.core.errors import LthError
from lth_tf.core.paths import what_is
from lth_tf.keras_side.data import planetoid_digests

SUFFIXES = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")  # Spektral's order
TITLES = {"cora": "Cora", "citeseer": "Citeseer", "pubmed": "PubMed"}
VAL_NODES = 500  # the Planetoid validation nodes: the 500 after the training nodes
# Spektral pads the test-index gaps (isolated nodes) with zero rows only for Citeseer.
GAP_FILLED = ("citeseer",)
FIX = "replace it with the original Planetoid file (github.com/tkipf/gcn, gcn/data)"

# Every global the Planetoid pickles name (Python 2 spellings included), mapped
# to the object itself: nothing else can be loaded, nothing else imported.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "defaultdict"): collections.defaultdict,
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("_codecs", "encode"): codecs.encode,  # how Python 3 writes bytes at protocol 2
}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_mod, "_reconstruct")] = np.ndarray((0,)).__reduce__()[0]
    _ALLOWED[(_mod, "scalar")] = np.float64(0).__reduce__()[0]
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):  # arrays pickled with protocol 5
    _ALLOWED[(_mod, "_frombuffer")] = np.arange(1).__reduce_ex__(5)[0]
for _mod in ("scipy.sparse.csr", "scipy.sparse._csr", "scipy.sparse"):
    _ALLOWED[(_mod, "csr_matrix")] = sp.csr_matrix
for _mod in ("__builtin__", "builtins"):
    for _cls in (list, dict, object, set, tuple):
        _ALLOWED[(_mod, _cls.__name__)] = _cls


def title(name: str) -> str:
    return TITLES.get(name, name)


def file_name(name: str, suffix: str) -> str:
    return f"ind.{name}.{suffix}"


def hint(name: str) -> str:
    return f"point --data-dir or LTH_DATA_DIR at a folder holding citation/ind.{name}.*"


def missing(folder: Path, name: str) -> list[str]:
    """The file names of `name` that `folder` lacks."""
    return [
        file_name(name, s) for s in SUFFIXES if not (Path(folder) / file_name(name, s)).is_file()
    ]


def read(folder: Path, name: str) -> dict[str, Any]:
    """Every file of `name` in `folder`, checked, keyed by suffix as Spektral reads them.

    Sparse matrices come back as freshly built, checked CSR matrices (safe to
    densify), labels as 2-D arrays, `graph` as a dict with one key per node in
    order 0..N-1 (what Spektral's networkx step needs for rows to match nodes),
    `test.index` as an int64 array. Raises LthError naming the first bad file.
    """
    folder = Path(folder)
    absent = missing(folder, name)
    odd = [f for f in absent if what_is(folder / f) != "missing"]
    if odd:  # there, but a folder, a FIFO, a broken link: say so, not "missing"
        raise LthError(
            f"{folder / odd[0]} is {what_is(folder / odd[0])}, not a file; put the {title(name)} file "
            f"there; {hint(name)}"
        )
    if absent:
        raise LthError(f"no {title(name)} in {folder} (missing {', '.join(absent)}); {hint(name)}")
    path = {s: folder / file_name(name, s) for s in SUFFIXES}
    out: dict[str, Any] = {}
    for s in ("x", "tx", "allx"):
        out[s] = _csr(_unpickle(path[s]), path[s])
    for s in ("y", "ty", "ally"):
        out[s] = _labels(_unpickle(path[s]), path[s])
    out["test.index"] = _test_index(path["test.index"])
    n = _check_sizes(out, path, name)
    out["graph"] = _graph(_unpickle(path["graph"]), path["graph"], n)
    edited = planetoid_digests.changed(out, name)
    if edited:  # well-formed but not the published data: it would train on another data set
        raise LthError(
            f"{path[edited[0]]} is not the published {title(name)} file (its content differs); {FIX}"
        )
    return out


def num_nodes(files: dict[str, Any], name: str) -> int:
    """Node count of the assembled graph, as Spektral computes it."""
    allx, idx = files["allx"].shape[0], files["test.index"]
    if name in GAP_FILLED:
        return allx + int(idx.max() - idx.min() + 1)
    return allx + files["tx"].shape[0]


# -- one file -------------------------------------------------------------------------


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}") from None


def _unpickle(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise LthError(f"cannot read {path} ({e.strerror}); {FIX}") from None
    if not raw:
        raise LthError(f"{path} is empty; {FIX}")
    try:
        # From bytes, so a garbage length field fails as "truncated" instead of allocating.
        return _Unpickler(io.BytesIO(raw), encoding="latin1").load()
    # A damaged pickle can raise nearly any exception; with find_class restricted
    # it runs no foreign code, so whatever it raises means a bad file.
    except Exception as e:  # noqa: BLE001
        raise LthError(f"{path} is not a readable pickle ({type(e).__name__}); {FIX}") from None


def _int_array(a: Any) -> bool:
    return isinstance(a, np.ndarray) and a.ndim == 1 and np.issubdtype(a.dtype, np.integer)


def _csr(obj: Any, path: Path) -> sp.csr_matrix:
    """A new CSR matrix from `obj`'s arrays, once they describe a valid matrix."""
    if not isinstance(obj, sp.csr_matrix):
        raise LthError(f"{path} holds a {type(obj).__name__}, not a sparse feature matrix; {FIX}")
    d = vars(obj)  # the unpickled attributes, read without scipy's properties
    shape, indptr, indices, data = d.get("_shape"), d.get("indptr"), d.get("indices"), d.get("data")
    bad = None
    if not (
        isinstance(shape, tuple)
        and len(shape) == 2
        and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in shape
        )
    ):
        bad = f"shape {shape!r} is not two sizes"
    elif not (_int_array(indptr) and _int_array(indices)):
        bad = "its index arrays are missing or not integer vectors"
    elif not (
        isinstance(data, np.ndarray) and data.ndim == 1 and np.issubdtype(data.dtype, np.number)
    ):
        bad = "its values are missing or not numbers"
    elif len(indptr) != shape[0] + 1 or indptr[0] != 0:
        bad = f"row pointer has {len(indptr)} entries for {shape[0]} rows"
    elif (np.diff(indptr) < 0).any():
        bad = "row pointer decreases"
    elif not indptr[-1] == len(indices) == len(data):
        bad = f"row pointer ends at {indptr[-1]} but there are {len(indices)} indices and {len(data)} values"
    elif len(indices) and (indices.min() < 0 or indices.max() >= shape[1]):
        worst = indices.min() if indices.min() < 0 else indices.max()
        bad = f"column indices reach {worst} outside 0..{shape[1] - 1}"
    elif not np.isfinite(data).all():
        bad = "values include NaN or infinity"
    if bad:
        raise LthError(f"{path} is corrupt: {bad}; {FIX}")
    rows, cols = int(shape[0]), int(shape[1])
    return sp.csr_matrix(
        (data.copy(), indices.astype(np.int64), indptr.astype(np.int64)), shape=(rows, cols)
    )


def _labels(obj: Any, path: Path) -> np.ndarray:
    """One-hot label rows (an all-zero row is an unlabelled node)."""
    if not (isinstance(obj, np.ndarray) and obj.ndim == 2 and np.issubdtype(obj.dtype, np.number)):
        kind = f"a {obj.ndim}-D array" if isinstance(obj, np.ndarray) else f"a {type(obj).__name__}"
        raise LthError(f"{path} holds {kind}, not a 2-D one-hot label matrix; {FIX}")
    if obj.shape[1] < 2:
        raise LthError(
            f"{path} has {obj.shape[1]} label columns, need one per class (2 or more); {FIX}"
        )
    if not np.isin(obj, (0, 1)).all() or (obj.sum(axis=1) > 1).any():
        raise LthError(
            f"{path} is not one-hot (values other than 0/1, or several 1s in a row); {FIX}"
        )
    return obj


def _test_index(path: Path) -> np.ndarray:
    """One node id per line, unique (range checks need the other files)."""
    try:
        lines = path.read_bytes().decode("ascii").split()
    except (OSError, UnicodeDecodeError) as e:
        raise LthError(
            f"{path} is not a text list of node ids ({type(e).__name__}); {FIX}"
        ) from None
    if not lines:
        raise LthError(f"{path} is empty; {FIX}")
    try:
        idx = np.array([int(v) for v in lines], np.int64)
    except ValueError:
        bad = next(v for v in lines if not v.lstrip("-").isdigit())
        raise LthError(f"{path} holds {bad[:20]!r}, not a node id; {FIX}") from None
    values, counts = np.unique(idx, return_counts=True)
    if (counts > 1).any():
        raise LthError(f"{path} lists node {values[counts > 1][0]} twice; {FIX}")
    return idx


def _graph(obj: Any, path: Path, n: int) -> dict[int, list[int]]:
    """The adjacency lists, checked to name nodes 0..n-1, with a key for every node."""
    if not isinstance(obj, dict):
        raise LthError(f"{path} holds a {type(obj).__name__}, not a dict of neighbour lists; {FIX}")

    def node(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < n

    for k, nbrs in obj.items():
        if not node(k):
            raise LthError(f"{path} has node {k!r}, outside 0..{n - 1} (the feature rows); {FIX}")
        if not isinstance(nbrs, (list, tuple, set)):
            raise LthError(
                f"{path}: node {k} has a {type(nbrs).__name__}, not a neighbour list; {FIX}"
            )
        for v in nbrs:
            if not node(v):
                raise LthError(f"{path}: node {k} has neighbour {v!r}, outside 0..{n - 1}; {FIX}")
    # networkx numbers nodes in the order it first meets them: give it 0..n-1 in order.
    return {i: list(obj.get(i, ())) for i in range(n)}


# -- across files --------------------------------------------------------------------------


def _check_sizes(f: dict[str, Any], path: dict[str, Path], name: str) -> int:
    """Row counts and widths that must agree between files; returns the node count."""

    def rows(s: str) -> int:
        return int(f[s].shape[0])

    def disagree(a: str, b: str, what: str, va: int, vb: int) -> LthError:
        return LthError(
            f"{path[a]} and {path[b]} disagree: {va} vs {vb} {what}; "
            f"replace the ind.{name}.* files with the Planetoid originals (github.com/tkipf/gcn)"
        )

    for a, b in (("x", "y"), ("tx", "ty"), ("allx", "ally")):
        if rows(a) != rows(b):
            raise disagree(a, b, "rows", rows(a), rows(b))
    if len(f["test.index"]) != rows("tx"):
        raise disagree("test.index", "tx", "test nodes", len(f["test.index"]), rows("tx"))
    for a, b in (("x", "tx"), ("x", "allx")):
        if f[a].shape[1] != f[b].shape[1]:
            raise disagree(a, b, "feature columns", f[a].shape[1], f[b].shape[1])
    for a, b in (("y", "ty"), ("y", "ally")):
        if f[a].shape[1] != f[b].shape[1]:
            raise disagree(a, b, "label columns", f[a].shape[1], f[b].shape[1])
    if rows("y") + VAL_NODES > rows("allx"):
        raise disagree(
            "y", "allx", f"rows (allx needs the training rows plus {VAL_NODES} validation rows)",
            rows("y"), rows("allx"),
        )  # fmt: skip
    n = num_nodes(f, name)
    idx = f["test.index"]
    # Test nodes come after every allx node: Spektral stacks allx then tx and
    # reorders only the test rows, so a lower id would overwrite a training row.
    low, high = int(idx.min()), int(idx.max())
    if low < rows("allx") or high >= n:
        bad = low if low < rows("allx") else high
        raise LthError(
            f"{path['test.index']} lists node {bad}, outside the test range "
            f"{rows('allx')}..{n - 1}; {FIX}"
        )
    return n
