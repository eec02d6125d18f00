"""A GCN export serves raw sparse node features (issue 26, item 4): `serving_sparse`.

It takes the raw features and the raw adjacency as COO parts and normalises both in
the graph with sparse ops, so nothing (N, N) or (N, F) is ever dense; it must give
`serving_dense`'s logits (raw dense inputs) and `serving_default`'s (prepared COO)
at atol 1e-5. Fast tier: a tiny untrained GCN with a masked kernel, exported dense
and sparse and loaded in this process. Slow: a Cora ticket of a 1-round run, served
in a fresh process that never imports lth_tf.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import re
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

COO_NAMES = ("indices", "values", "dense_shape")


def _coo(prefix: str, m) -> dict[str, np.ndarray]:
    """The three COO parts of a scipy matrix, as the signatures name them."""
    c = sp.coo_matrix(m)
    return {
        f"{prefix}_indices": np.stack([c.row, c.col], axis=1).astype(np.int64),
        f"{prefix}_values": c.data.astype(np.float32),
        f"{prefix}_dense_shape": np.asarray(c.shape, np.int64),
    }


def _tiny_graph(n: int = 40, f: int = 30, k: int = 3, seed: int = 0):
    """Raw binary features (~10% nonzero) and a raw symmetric weighted adjacency."""
    rng = np.random.default_rng(seed)
    x_raw = (rng.random((n, f)) < 0.1).astype(np.float32)
    x_raw[0] = 0.0  # a node without features: its row stays 0 after row-normalising
    upper = np.triu((rng.random((n, n)) < 0.08) * rng.uniform(0.5, 2.0, (n, n)), 1)
    a_raw = (upper + upper.T).astype(np.float32)
    y = rng.integers(0, k, n)
    return x_raw, a_raw, y


def _ops(fn) -> collections.Counter:
    """Op types of a concrete function's graph and every function it calls."""
    counts: collections.Counter = collections.Counter()
    seen = set()

    def walk(graph):
        for op in graph.get_operations():
            counts[op.type] += 1
        for name, f in getattr(graph, "_functions", {}).items():
            if name not in seen and hasattr(f, "graph"):
                seen.add(name)
                walk(f.graph)

    walk(fn.graph)
    return counts


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from lth_tf.core.config import Model
    from lth_tf.export import description, export_savedmodel, usage
    from lth_tf.keras_side.data.graph import GraphData, gcn_normalise, row_normalise
    from lth_tf.keras_side.models.gcn import build_gcn
    from lth_tf.platform.backend import tf

    tmp = tmp_path_factory.mktemp("sparse-graph")
    x_raw, a_raw, y = _tiny_graph()
    n, f = x_raw.shape
    mask = np.ones(n, bool)
    g = GraphData(x=row_normalise(x_raw), a=gcn_normalise(a_raw), y=y, train_mask=mask,
                  val_mask=mask, test_mask=mask, num_classes=3, name="tiny",
                  features_row_normalised=True)
    model = build_gcn(Model(name="gcn", hidden=8), (f,), 3, seed=0)
    rng = np.random.default_rng(1)
    pruned = [model.get_layer("gcn1").kernel, model.get_layer("output").kernel]
    for v in pruned:  # a ticket: the masked dense kernels
        v.assign(v.numpy() * (rng.random(v.shape) >= 0.9))
    x, a = g.inputs()
    ref = model([x, a], training=False).numpy()
    paths = {fmt: export_savedmodel(model, tmp / fmt, g, format=fmt, pruned=pruned)
             for fmt in ("dense", "sparse")}
    loaded = {fmt: tf.saved_model.load(str(p)) for fmt, p in paths.items()}
    feeds = {
        "raw": {**_coo("x", x_raw), **_coo("a", a_raw)},
        "prepared": {**_coo("x", g.x), **_coo("a", g.a)},
    }
    return {"ref": ref, "loaded": loaded, "paths": paths, "feeds": feeds, "x_raw": x_raw, "a_raw": a_raw,
            "doc": description(paths["dense"]), "usage": usage(paths["dense"]), "tf": tf, "model": model, "g": g}


def _call(t, fmt, signature, feeds):
    tf = t["tf"]
    sig = t["loaded"][fmt].signatures[signature]
    return sig(**{k: tf.constant(v) for k, v in feeds.items()})["logits"].numpy()


@pytest.mark.parametrize("fmt", ["dense", "sparse"])
def test_sparse_features_serve_as_the_dense_signature_does(tiny, fmt):
    tf = tiny["tf"]
    sparse = _call(tiny, fmt, "serving_sparse", tiny["feeds"]["raw"])
    dense = tiny["loaded"][fmt].signatures["serving_dense"](
        x=tf.constant(tiny["x_raw"]), a=tf.constant(tiny["a_raw"]))["logits"].numpy()
    coo = _call(tiny, fmt, "serving_default", tiny["feeds"]["prepared"])
    np.testing.assert_allclose(sparse, dense, atol=1e-5, rtol=0)
    np.testing.assert_allclose(coo, tiny["ref"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(sparse, tiny["ref"], atol=1e-5, rtol=0)


def test_diagonal_duplicates_and_order_mean_what_the_dense_matrix_would(tiny):
    """The diagonal is ignored (one self-loop added), duplicate entries add up, any order."""
    tf = tiny["tf"]
    a_diag = tiny["a_raw"].copy()
    np.fill_diagonal(a_diag, 5.0)
    feeds = {**_coo("x", tiny["x_raw"]), **_coo("a", a_diag)}
    half = feeds["a_values"] / 2  # every entry given twice, halves, in reversed order
    feeds["a_indices"] = np.concatenate([feeds["a_indices"], feeds["a_indices"]])[::-1].copy()
    feeds["a_values"] = np.concatenate([half, half])[::-1].copy()
    got = _call(tiny, "dense", "serving_sparse", feeds)
    dense = tiny["loaded"]["dense"].signatures["serving_dense"](
        x=tf.constant(tiny["x_raw"]), a=tf.constant(a_diag))["logits"].numpy()
    np.testing.assert_allclose(got, dense, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got, tiny["ref"], atol=1e-5, rtol=0)


def test_bad_sparse_inputs_raise_in_the_graph(tiny):
    tf = tiny["tf"]
    feeds = dict(tiny["feeds"]["raw"])
    idx = feeds["x_indices"].copy()
    idx[0, 1] = tiny["x_raw"].shape[1]
    with pytest.raises(tf.errors.InvalidArgumentError, match="x_indices out of range"):
        _call(tiny, "dense", "serving_sparse", {**feeds, "x_indices": idx})
    n = tiny["x_raw"].shape[0]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"a_dense_shape must be \(N, N\)"):
        _call(tiny, "dense", "serving_sparse", {**feeds, "a_dense_shape": np.array([n + 1] * 2)})


@pytest.mark.parametrize("signature", ["serving_default", "serving_sparse"])
def test_every_sparse_op_runs_after_the_input_checks(tiny, signature):
    """The checks must run before any op that reads the COO parts: TensorFlow runs ops
    without a dependency in any order, and a SparseReorder that ran first failed with its
    own message ('indices (2970) and values (2969)') instead of the check's (seen in CI
    under load). So every sparse op has a check among its ancestors."""
    from lth_tf.export.signatures import _graph

    graph = _graph(tiny["model"], tiny["g"])[0][signature].get_concrete_function().graph

    def checked(op) -> bool:
        seen, todo = set(), [op]
        while todo:
            o = todo.pop()
            if o.name in seen:
                continue
            seen.add(o.name)
            if "assert" in o.name.lower() and o is not op:
                return True
            todo += [t.op for t in o.inputs] + list(o.control_inputs)
        return False

    sparse_ops = [op for op in graph.get_operations()
                  if op.type in ("SparseReorder", "UnsortedSegmentSum", "SparseTensorDenseMatMul")]
    assert sparse_ops
    assert [op.name for op in sparse_ops if not checked(op)] == []


def test_the_sparse_signature_never_densifies(tiny):
    """X.W, A.(XW) and A.(HW) are sparse-by-dense products (the sparse format's output
    kernel, 90% zeros, is a fourth); nothing becomes a dense matrix."""
    for fmt, products in (("dense", 3), ("sparse", 4)):
        ops = _ops(tiny["loaded"][fmt].signatures["serving_sparse"])
        assert ops["SparseTensorDenseMatMul"] == products, (fmt, ops)
        assert not {"SparseToDense", "MatrixSetDiagV3", "Eye"} & set(ops), (fmt, ops)


def test_the_marker_and_the_printed_usage_name_it(tiny):
    doc = tiny["doc"]
    assert doc["serving_sparse"]["checked"] is True
    assert set(doc["serving_sparse"]["inputs"]) == {
        f"{p}_{n}" for p in ("x", "a") for n in COO_NAMES}
    assert "row-normalised in the graph" in doc["serving_sparse"]["inputs"]["x_values"]
    lines = tiny["usage"]
    assert "serving_sparse" in lines[0] and "serving_dense" in lines[0]
    assert 'signatures["serving_dense"]' in lines[3]
    assert lines[4].strip().startswith('# sparse, raw COO: m.signatures["serving_sparse"]')


def test_the_guides_scipy_snippet_runs_as_written(tiny, tmp_path):
    """docs/export.md's serving_sparse snippet, on scipy.sparse inputs, classifies as the model."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "export.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if "serving_sparse" in b]
    script = tmp_path / "snippet.py"
    script.write_text(block.replace('"my_ticket"', repr(str(tiny["paths"]["dense"]))))
    scope = {"features": sp.csr_matrix(tiny["x_raw"]), "adjacency": sp.coo_matrix(tiny["a_raw"])}
    with contextlib.redirect_stdout(io.StringIO()):
        out = runpy.run_path(str(script), init_globals=scope)["out"]
    np.testing.assert_array_equal(out["class_index"].numpy(), np.argmax(tiny["ref"], axis=1))


# -- a Cora ticket, served in a fresh process without lth_tf ------------------------------------
SERVE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    job = json.loads(sys.argv[1])
    z = np.load(job["inputs"])
    m = tf.saved_model.load(job["path"])
    sparse = m.signatures["serving_sparse"](
        **{k: tf.constant(z[k]) for k in z.files if k.startswith(("x_", "a_"))})
    dense = m.signatures["serving_dense"](x=tf.constant(z["dense_x"]), a=tf.constant(z["dense_a"]))
    np.savez(job["out"], sparse=sparse["logits"].numpy(), dense=dense["logits"].numpy())
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in
                    ("lth_tf", "spektral", "tensorflow_model_optimization"))
    print(json.dumps(leaked))
    """
)


@pytest.mark.slow
def test_a_cora_ticket_serves_sparse_features_as_dense_ones(tmp_path):
    if not os.environ.get("LTH_DATA_DIR"):
        pytest.skip("needs the Planetoid files: set LTH_DATA_DIR")
    from lth_tf.frontends.cli import main as cli

    args = ["--preset", "cora-gcn", "--set", "prune.rounds=1", "--set", "prune.controls=",
            "--set", "train.epochs=20", "--set", "prune.tolerance=1.0"]
    assert cli.main(["run", *args, "--out", str(tmp_path / "runs"), "--quiet"]) == 0
    (run_dir,) = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    from lth_tf.search.lottery import LotterySearch

    g = LotterySearch.open(run_dir).data
    x_raw = (g.x != 0).astype(np.float32)  # Cora's features are binary; the run row-normalised them
    a_raw = (g.a.toarray() != 0).astype(np.float32)
    np.fill_diagonal(a_raw, 0.0)
    np.savez(tmp_path / "in.npz", dense_x=x_raw, dense_a=a_raw,
             **_coo("x", sp.csr_matrix(x_raw)), **_coo("a", sp.csr_matrix(a_raw)))
    job = {"path": str(run_dir / "ticket"), "inputs": str(tmp_path / "in.npz"),
           "out": str(tmp_path / "out.npz")}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    (tmp_path / "serve.py").write_text(SERVE)
    proc = subprocess.run([sys.executable, str(tmp_path / "serve.py"), json.dumps(job)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
    with np.load(tmp_path / "out.npz") as z:
        np.testing.assert_allclose(z["sparse"], z["dense"], atol=1e-5, rtol=0)
        assert z["sparse"].shape == (2708, 7)
