"""Corrupted Planetoid files: each must be one LthError line naming the file.

The cases mutate copies of the real Cora files in tmp_path (they need
$LTH_DATA_DIR and skip without it).
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from helpers.data import CITATION, needs, raw

from lth_tf.core.config import Data
from lth_tf.core.errors import LthError
from lth_tf.keras_side import data
from lth_tf.keras_side.data import planetoid

pytestmark = pytest.mark.slow  # the real Cora files under $LTH_DATA_DIR

CORA_NODES = 2708


def copy_cora(tmp_path: Path) -> Path:
    folder = tmp_path / "citation"
    folder.mkdir()
    for s in planetoid.SUFFIXES:
        shutil.copyfile(CITATION / f"ind.cora.{s}", folder / f"ind.cora.{s}")
    return folder


def rewrite(folder: Path, suffix: str, obj, protocol: int = 2) -> None:
    (folder / f"ind.cora.{suffix}").write_bytes(pickle.dumps(obj, protocol=protocol))


def csr_with(m: sp.csr_matrix, **attrs) -> sp.csr_matrix:
    """A copy of `m` with raw attributes replaced, bypassing scipy's checks (as unpickling does)."""
    out = m.copy()
    for k, v in attrs.items():
        setattr(out, k, v) if k != "shape" else out.__dict__.__setitem__("_shape", v)
    return out


class Boom:
    """Unpickling this would delete `marker`: proof that foreign globals are refused."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.remove, (str(self.marker),))


def corrupt(folder: Path, case: str) -> str:
    """Damage the Cora copy in `folder`; returns the file the error must name."""

    def f(suffix: str) -> Path:
        return folder / f"ind.cora.{suffix}"

    def orig(suffix: str):
        return raw(CITATION, "cora", suffix)

    if case == "x truncated":
        f("x").write_bytes(f("x").read_bytes()[:5000])
    elif case == "graph truncated":
        f("graph").write_bytes(f("graph").read_bytes()[:-100])
    elif case == "y empty":
        f("y").write_bytes(b"")
    elif case == "y not a pickle":
        f("y").write_bytes(b"\x00garbage bytes" * 10)
    elif case == "test.index garbage":
        f("test.index").write_text("1708\n17x9\n" * 3)
    elif case == "test.index binary":
        f("test.index").write_bytes(bytes(range(256)))
    elif case == "test.index 500 lines":
        f("test.index").write_text("".join(f("test.index").read_text().splitlines(True)[:500]))
    elif case == "test.index duplicate":
        lines = f("test.index").read_text().splitlines()
        f("test.index").write_text("\n".join(lines[:-1] + lines[:1]) + "\n")
    elif case == "test.index out of range":
        lines = f("test.index").read_text().splitlines()
        f("test.index").write_text("\n".join(lines[:-1] + ["99999"]) + "\n")
    elif case == "test.index below allx":
        lines = f("test.index").read_text().splitlines()
        f("test.index").write_text("\n".join(lines[:-1] + ["3"]) + "\n")
    elif case == "ty short":
        rewrite(folder, "ty", orig("ty")[:-1])
        return "ty"
    elif case == "ally width":
        rewrite(folder, "ally", orig("ally")[:, :6])
        return "ally"
    elif case == "y not one-hot":
        y = orig("y").copy()
        y[3] = 2
        rewrite(folder, "y", y)
    elif case == "y wrong type":
        rewrite(folder, "y", "labels")
    elif case == "y one column":
        rewrite(folder, "y", orig("y")[:, :1])
    elif case == "tx width":
        tx = orig("tx")
        rewrite(folder, "tx", csr_with(tx, shape=(tx.shape[0], tx.shape[1] + 1)))
        return "tx"
    elif case == "x index out of range":
        x = orig("x")
        ind = x.indices.copy()
        ind[7] = 10**6
        rewrite(folder, "x", csr_with(x, indices=ind))
    elif case == "x negative index":
        x = orig("x")
        ind = x.indices.copy()
        ind[7] = -1
        rewrite(folder, "x", csr_with(x, indices=ind))
    elif case == "x indptr decreasing":
        x = orig("x")
        ptr = x.indptr.copy()
        ptr[5] = ptr[7] + 1
        rewrite(folder, "x", csr_with(x, indptr=ptr))
    elif case == "x indptr too long":
        x = orig("x")
        rewrite(folder, "x", csr_with(x, indptr=np.append(x.indptr, x.indptr[-1])))
    elif case == "x values short":
        x = orig("x")
        rewrite(folder, "x", csr_with(x, data=x.data[:-3]))
    elif case == "x nan":
        x = orig("x")
        vals = x.data.copy()
        vals[0] = np.nan
        rewrite(folder, "x", csr_with(x, data=vals))
    elif case == "x dense":
        rewrite(folder, "x", orig("x").toarray())
    elif case == "x y rows":
        rewrite(folder, "x", orig("x")[:139])
        return "x"
    elif case == "allx too short for validation":
        rewrite(folder, "allx", orig("allx")[:600])
        rewrite(folder, "ally", orig("ally")[:600])
        return "y"
    elif case == "graph neighbour out of range":
        g = orig("graph")
        g[5] = list(g[5]) + [99999]
        rewrite(folder, "graph", g)
    elif case == "graph string key":
        g = dict(orig("graph"))
        g["node"] = [1]
        rewrite(folder, "graph", g)
    elif case == "graph not a dict":
        rewrite(folder, "graph", list(orig("graph").items()))
    elif case == "graph foreign global":
        rewrite(folder, "graph", Boom(folder / "marker"))
    else:
        raise AssertionError(case)
    return case.split()[0]


CASES = {  # case: what the message must say
    "x truncated": "not a readable pickle",
    "graph truncated": "not a readable pickle",
    "y empty": "is empty",
    "y not a pickle": "not a readable pickle",
    "test.index garbage": "holds '17x9', not a node id",
    "test.index binary": "not a text list of node ids",
    "test.index 500 lines": "disagree: 500 vs 1000 test nodes",
    "test.index duplicate": "lists node 2692 twice",
    "test.index out of range": "lists node 99999, outside the test range 1708..2707",
    "test.index below allx": "lists node 3, outside the test range 1708..2707",
    "ty short": "disagree: 1000 vs 999 rows",
    "ally width": "disagree: 7 vs 6 label columns",
    "y not one-hot": "not one-hot",
    "y wrong type": "holds a str, not a 2-D one-hot label matrix",
    "y one column": "1 label columns",
    "tx width": "disagree: 1433 vs 1434 feature columns",
    "x index out of range": "column indices reach 1000000 outside 0..1432",
    "x negative index": "column indices reach -1 outside 0..1432",
    "x indptr decreasing": "row pointer decreases",
    "x indptr too long": "row pointer has 142 entries for 140 rows",
    "x values short": "row pointer ends at",
    "x nan": "NaN",
    "x dense": "holds a ndarray, not a sparse feature matrix",
    "x y rows": "disagree: 139 vs 140 rows",
    "allx too short for validation": "disagree: 140 vs 600 rows (allx needs",
    "graph neighbour out of range": "node 5 has neighbour 99999, outside 0..2707",
    "graph string key": "has node 'node', outside 0..2707",
    "graph not a dict": "holds a list, not a dict of neighbour lists",
    "graph foreign global": "not a readable pickle (UnpicklingError)",
}


@needs("cora")
@pytest.mark.parametrize("case", CASES)
def test_a_corrupt_file_is_one_line_naming_it(tmp_path, case):
    folder = copy_cora(tmp_path)
    (folder / "marker").write_text("still here")
    bad = corrupt(folder, case)
    with pytest.raises(LthError) as e:
        data.load(Data(name="cora"), tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and str(folder / f"ind.cora.{bad}") in msg, msg
    assert CASES[case] in msg, msg
    assert "Planetoid" in msg or "tkipf" in msg  # says what to do
    assert (folder / "marker").read_text() == "still here"


@needs("cora")
def test_the_untouched_copy_reads(tmp_path):
    """The corruption tests start from a copy that is fine: failures come from the damage."""
    folder = copy_cora(tmp_path)
    files = planetoid.read(folder, "cora")
    assert planetoid.num_nodes(files, "cora") == CORA_NODES
    assert len(files["graph"]) == CORA_NODES


@needs("cora")
def test_flipped_bytes_in_x_no_longer_crash_the_process(tmp_path):
    """Four bytes of ind.cora.x's column indices set to 50,000,000 used to segfault
    (scipy's toarray writes outside its buffer); now it is an error before TF loads."""
    folder = copy_cora(tmp_path)
    path = folder / "ind.cora.x"
    blob = bytearray(path.read_bytes())
    indices = raw(CITATION, "cora", "x").indices
    at = blob.find(indices.astype("<i4").tobytes()[:64]) + 4 * 300
    assert at > 4 * 300
    blob[at : at + 4] = (50_000_000).to_bytes(4, "little")
    path.write_bytes(blob)
    code = (
        "import sys; from lth_tf.keras_side import data; from lth_tf.core.config import Data\n"
        "from lth_tf.core.errors import LthError\n"
        f"try: data.load(Data(name='cora'), {str(tmp_path)!r})\n"
        "except LthError as e: print(e)\n"
        "print('tensorflow' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-500:]
    msg, tf_loaded = out.stdout.strip().splitlines()
    assert str(path) in msg and "column indices reach 50000000" in msg
    assert tf_loaded == "False"


@needs("cora")
def test_files_pickled_with_protocol_5_read_the_same(tmp_path):
    folder = copy_cora(tmp_path)
    for s in planetoid.SUFFIXES[:-1]:
        rewrite(folder, s, raw(CITATION, "cora", s), protocol=5)
    again, orig = planetoid.read(folder, "cora"), planetoid.read(CITATION, "cora")
    for s in planetoid.SUFFIXES:
        a, b = again[s], orig[s]
        if sp.issparse(a):
            assert (a != b).nnz == 0
        elif isinstance(a, dict):
            assert a == b
        else:
            assert np.array_equal(a, b)


@needs("cora")
def test_a_well_formed_but_edited_file_is_refused(tmp_path):
    """Found by the fuzz test's rule (same data or an error): one training label moved to
    another class passes every structural check and trained on another data set."""
    folder = copy_cora(tmp_path)
    y = raw(CITATION, "cora", "y").copy()
    y[0] = np.roll(y[0], 1)
    rewrite(folder, "y", y)
    with pytest.raises(LthError, match=r"ind\.cora\.y is not the published Cora file"):
        planetoid.read(folder, "cora")
