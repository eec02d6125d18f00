"""Planetoid citation sets (Cora, Citeseer, PubMed): the real copies, downloads, and
corrupted files, each of which must be one LthError line naming the file.

Tests on the real files need $LTH_DATA_DIR (the shared data folder) and skip
without it; the corruption tests mutate copies of the Cora files in tmp_path.
"""

from __future__ import annotations

import importlib
import time

import numpy as np
import pytest
import scipy.sparse as sp
from helpers.data import CITATION, DATA_DIR, assert_gcn_normalised, needs, raw, snapshot

from lth_tf.core.config import Data
from lth_tf.core.errors import LthError
from lth_tf.keras_side import data
from lth_tf.keras_side.data import planetoid

# -- the real Cora and Citeseer -------------------------------------------------------------

# Planetoid facts (Yang et al. 2016; Kipf & Welling 2017, table 1).
PLANETOID = {  # nodes, features, classes, train, val, test
    "cora": (2708, 1433, 7, 140, 500, 1000),
    "citeseer": (3327, 3703, 6, 120, 500, 1000),
}


@pytest.mark.slow  # the real Planetoid files
@pytest.mark.parametrize("name", [pytest.param(n, marks=needs(n)) for n in ("cora", "citeseer")])
def test_planetoid_sizes_split_and_assembly_match_the_files(name):
    before = snapshot(CITATION)
    t0 = time.perf_counter()
    g = data.load(Data(name=name), DATA_DIR)
    assert time.perf_counter() - t0 < 20  # includes importing TF and Spektral
    assert snapshot(CITATION) == before
    nodes, feats, classes, n_tr, n_va, n_te = PLANETOID[name]
    assert g.kind == "graph" and g.name == name and g.x.shape == (nodes, feats)
    assert g.input_shape == (feats,) and g.num_classes == classes
    assert g.x.dtype == np.float32 and g.y.dtype == np.int64
    assert (g.train_mask.sum(), g.val_mask.sum(), g.test_mask.sum()) == (n_tr, n_va, n_te)
    assert (g.train_mask.astype(int) + g.val_mask + g.test_mask).max() == 1
    assert_gcn_normalised(g.a)

    # Rebuilt from the files by hand: allx rows are nodes 0.., tx row i is node test.index[i].
    allx, ally = raw(CITATION, name, "allx"), raw(CITATION, name, "ally")
    tx, ty = raw(CITATION, name, "tx"), raw(CITATION, name, "ty")
    idx = raw(CITATION, name, "test.index")
    k = allx.shape[0]

    def normalised(m):
        d = m.toarray()
        return d / d.sum(axis=1, keepdims=True)

    assert np.allclose(g.x[:k], normalised(allx), atol=1e-6)
    assert np.allclose(g.x[idx], normalised(tx), atol=1e-6)
    assert (g.y[:k] == ally.argmax(1)).all() and (g.y[idx] == ty.argmax(1)).all()
    assert (np.flatnonzero(g.test_mask) == np.sort(idx)).all()
    assert (np.flatnonzero(g.train_mask) == np.arange(n_tr)).all()
    assert (np.flatnonzero(g.val_mask) == np.arange(n_tr, n_tr + n_va)).all()
    # Nodes neither in allx nor in test.index (Citeseer's isolated ones) are blank.
    gaps = np.setdiff1d(np.arange(k, nodes), idx)
    assert nodes == k + len(idx) + len(gaps)
    assert not g.x[gaps].any() and not g.test_mask[gaps].any()
    # The adjacency is the graph file's, symmetrised, self-loops replaced by one.
    graph = raw(CITATION, name, "graph")
    rows = [i for i, nbrs in graph.items() for _ in nbrs]
    cols = [j for nbrs in graph.values() for j in nbrs]
    a = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(nodes, nodes)).tocsr()
    a = ((a + a.T) > 0).astype(np.int8).tolil()
    a.setdiag(0)
    from spektral.utils import gcn_filter

    assert abs(g.a - gcn_filter(a.tocsr().astype(np.float32))).max() < 1e-6

    x, a_tensor = g.inputs()
    assert tuple(x.shape) == (nodes, feats) and int(a_tensor.indices.shape[0]) == g.a.nnz


@pytest.mark.slow  # the real Planetoid files
@needs("citeseer")
def test_citeseer_has_fifteen_padded_nodes():
    """The README's 15 test-index gaps: the node count is max(test.index) + 1."""
    idx = raw(CITATION, "citeseer", "test.index")
    assert len(np.setdiff1d(np.arange(idx.min(), idx.max() + 1), idx)) == 15
    files = planetoid.read(CITATION, "citeseer")
    assert planetoid.num_nodes(files, "citeseer") == idx.max() + 1 == PLANETOID["citeseer"][0]


# -- missing files and downloads -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "title"), [("cora", "Cora"), ("citeseer", "Citeseer"), ("pubmed", "PubMed")]
)
def test_missing_files_name_the_folder(tmp_path, name, title):
    with pytest.raises(LthError, match=f"no {title} in {tmp_path / 'citation'}.*ind.{name}"):
        data.load(Data(name=name), tmp_path)


@pytest.mark.parametrize(("name", "title"), [("cora", "Cora"), ("pubmed", "PubMed")])
def test_failed_download_is_an_lth_error_and_leaves_no_folder(tmp_path, monkeypatch, name, title):
    # lth-tf's backend first, as a user's `import lth_tf` would: Spektral imports TensorFlow and
    # builds on whatever tf.keras is then (alone, this file failed with "tf.keras was already Keras 3")
    importlib.import_module("lth_tf.platform.backend")
    from spektral.datasets import citation as spektral_citation

    def offline(url):
        raise ConnectionError("no network")

    monkeypatch.delenv("LTH_DATA_DIR", raising=False)
    monkeypatch.setattr(spektral_citation, "DATASET_FOLDER", str(tmp_path))
    monkeypatch.setattr(spektral_citation.requests, "get", offline)
    with pytest.raises(LthError, match=f"could not download {title}.*citation/ind.{name}"):
        data.load(Data(name=name))
    assert not (tmp_path / "Citation" / name).exists()


@pytest.mark.slow  # the real Planetoid files
@needs("cora")
def test_download_path_fetches_each_file_once_then_reads_it(tmp_path, monkeypatch):
    """PubMed's download, served Cora's bytes: files land in Spektral's folder, then load."""
    from spektral.datasets import citation as spektral_citation

    asked = []

    class Reply:
        status_code = 200

        def __init__(self, url):
            suffix = url.rsplit("ind.pubmed.", 1)[1]
            self.content = (CITATION / f"ind.cora.{suffix}").read_bytes()

    def serve(url):
        asked.append(url)
        return Reply(url)

    monkeypatch.delenv("LTH_DATA_DIR", raising=False)
    monkeypatch.setattr(spektral_citation, "DATASET_FOLDER", str(tmp_path))
    monkeypatch.setattr(spektral_citation.requests, "get", serve)
    g = data.load(Data(name="pubmed"))
    assert g.name == "pubmed" and g.x.shape == PLANETOID["cora"][:2]
    assert sorted(u.rsplit("/", 1)[1] for u in asked) == sorted(
        f"ind.pubmed.{s}" for s in planetoid.SUFFIXES
    )
    assert not planetoid.missing(tmp_path / "Citation" / "pubmed", "pubmed")
    data.load(Data(name="pubmed"))
    assert len(asked) == len(planetoid.SUFFIXES)  # the second load downloads nothing
