"""A served ticket is self-contained: raw uint8 images in, class out; GCN inputs checked.

One smoke image run and one synthetic-graph run (1 round each); their tickets,
plus a tiny model exported with named classes and one exported without data,
are all called in ONE fresh process that never imports lth_tf. Expected values
come from the run's own model in this process, on the inputs the run trained on.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest

from lth_tf.export import MARKER_FILE, export_savedmodel
from lth_tf.frontends.cli import main as cli

pytestmark = pytest.mark.slow  # two searches, exports served in a fresh process

ONE_ROUND = ["--set", "prune.rounds=1", "--set", "prune.tolerance=1.0", "--set", "prune.controls="]
IMAGE_RUN = ["--preset", "smoke", "--set", "train.epochs=1", *ONE_ROUND]
GRAPH_RUN = [
    "--preset", "smoke", "--set", "data.name=synthetic_graph", "--set", "model.name=gcn",
    "--set", "train.epochs=3", *ONE_ROUND,
]  # fmt: skip
NAMES = ("cat", "dog", "emu")

# Bad COO inputs: each breaks exactly one check; (how, the message it must raise).
BAD_COO = {
    "a_shape_not_NxN": "a_dense_shape must be (N, N)",
    "x_index_out_of_range": "x_indices out of range",
    "a_index_negative": "a_indices must be >= 0",
    "a_values_short": "a_indices and a_values must have the same number of rows",
    "x_wrong_feature_count": "x_dense_shape[1] must be",
}

SERVE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    jobs = json.loads(sys.argv[1])
    res = {}

    # images: the run's ticket on raw uint8 pixels, then the printed snippet, verbatim
    z = np.load(jobs["image_inputs"])
    m = tf.saved_model.load(jobs["image"])
    raw = m.signatures["serving_default"](image=tf.constant(z["raw"]))
    norm = m.signatures["serving_normalized"](image=tf.constant(z["normalized"]))
    res["raw_dtype"] = m.signatures["serving_default"].structured_input_signature[1]["image"].dtype.name
    images = z["raw"]
    scope = {"images": images}
    exec(jobs["snippet"], scope)
    out = {"raw_" + k: v.numpy() for k, v in raw.items()}
    out.update({"norm_" + k: v.numpy() for k, v in norm.items()})
    out["snippet_class_index"] = scope["out"]["class_index"].numpy()

    # named classes; and an export made without data
    named = tf.saved_model.load(jobs["named"])
    res["class_names"] = [s.decode() for s in named.signatures["class_names"]()["class_names"].numpy()]
    got = named.signatures["serving_default"](image=tf.constant(z["named_raw"]))
    res["class_name"] = [s.decode() for s in got["class_name"].numpy()]
    out["named_class_index"] = got["class_index"].numpy()
    nodata = tf.saved_model.load(jobs["nodata"])
    res["nodata_dtype"] = nodata.signatures["serving_default"].structured_input_signature[1]["image"].dtype.name
    res["nodata_signatures"] = sorted(nodata.signatures)

    # graph: COO vs dense signature, then bad inputs
    g = np.load(jobs["graph_inputs"])
    gm = tf.saved_model.load(jobs["graph"])
    feeds = {k: tf.constant(g[k]) for k in
             ("x_indices", "x_values", "x_dense_shape", "a_indices", "a_values", "a_dense_shape")}
    out["coo_logits"] = gm.signatures["serving_default"](**feeds)["logits"].numpy()
    out["dense_logits"] = gm.signatures["serving_dense"](
        x=tf.constant(g["x_dense"]), a=tf.constant(g["a_raw"]))["logits"].numpy()
    res["bad"] = {}
    for case, bad in jobs["bad"].items():
        f = dict(feeds)
        f.update({k: tf.constant(np.asarray(v, f[k].dtype.as_numpy_dtype)) for k, v in bad.items()})
        try:
            gm.signatures["serving_default"](**f)
            res["bad"][case] = None
        except tf.errors.InvalidArgumentError as e:
            res["bad"][case] = e.message
    n = g["x_dense"].shape[0]
    try:
        gm.signatures["serving_dense"](x=tf.constant(g["x_dense"]), a=tf.constant(g["a_raw"][:, : n - 1]))
        res["bad_dense"] = None
    except tf.errors.InvalidArgumentError as e:
        res["bad_dense"] = e.message

    np.savez(jobs["out"], **out)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in
                    ("lth_tf", "spektral", "tensorflow_model_optimization"))
    res["leaked"] = leaked
    print(json.dumps(res))
    """
)


def _run(tmp, name, args):
    out = tmp / name
    assert cli.main(["run", *args, "--out", str(out), "--quiet"]) == 0
    (run_dir,) = [d for d in out.iterdir() if d.is_dir()]
    assert (run_dir / "ticket" / "saved_model.pb").is_file()
    from lth_tf.keras_side import pruning as P
    from lth_tf.search.lottery import LotterySearch

    search = LotterySearch.open(run_dir)
    ticket_round = json.loads((run_dir / "summary.json").read_text())["ticket"]["round"]
    return run_dir, search, P.strip(search.model_for_round(ticket_round))


def _bad_coo(coo: dict[str, np.ndarray]) -> dict[str, dict[str, list]]:
    n, f = (int(d) for d in coo["x_dense_shape"])
    x_idx, a_idx = coo["x_indices"].copy(), coo["a_indices"].copy()
    x_idx[0, 1] = f
    a_idx[0, 0] = -1
    return {
        "a_shape_not_NxN": {"a_dense_shape": [n + 1, n + 1]},
        "x_index_out_of_range": {"x_indices": x_idx.tolist()},
        "a_index_negative": {"a_indices": a_idx.tolist()},
        "a_values_short": {"a_values": coo["a_values"][:-1].tolist()},
        "x_wrong_feature_count": {"x_dense_shape": [n, f + 1]},
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from lth_tf.platform.backend import keras, tf

    tmp = tmp_path_factory.mktemp("serve")
    jobs = {"out": str(tmp / "out.npz")}
    ref = {}

    # image run: reference = the run's model on the normalised test split
    run_dir, search, model = _run(tmp, "images", IMAGE_RUN)
    data = search.data
    normalized = np.concatenate([x.numpy() for x, _ in data.eval_dataset("test", 256)])
    ref["logits"] = model(normalized, training=False).numpy()
    ref["y"] = data.y_test
    ref["mean"], ref["std"] = data.mean, data.std
    ref["marker"] = json.loads((run_dir / "ticket" / MARKER_FILE).read_text())
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["export", str(run_dir), "--out", str(tmp / "cli")]) == 0
    lines = err.getvalue().splitlines()
    at = lines.index(next(line for line in lines if line.startswith("call it")))
    ref["snippet"] = [line.strip() for line in lines[at + 1 : at + 4]]
    jobs["snippet"] = "\n".join(ref["snippet"])
    jobs["image"] = str(run_dir / "ticket")

    # a tiny model with named classes, and the same exported without data
    inp = keras.Input((4, 4, 3))
    named = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Flatten()(inp)))
    info = SimpleNamespace(mean=np.full(3, 100.0), std=np.full(3, 50.0), class_names=NAMES)
    jobs["named"] = str(export_savedmodel(named, tmp / "named", data=info))
    jobs["nodata"] = str(export_savedmodel(named, tmp / "nodata", data=None))
    named_raw = np.random.default_rng(0).integers(0, 256, (16, 4, 4, 3), dtype=np.uint8)
    named_norm = ((named_raw.astype(np.float32) - 100.0) / 50.0).astype(np.float32)
    ref["named_class_index"] = np.argmax(named(named_norm).numpy(), axis=1)
    ref["nodata_marker"] = json.loads((tmp / "nodata" / MARKER_FILE).read_text())

    np.savez(tmp / "images.npz", raw=data.x_test, normalized=normalized, named_raw=named_raw)
    jobs["image_inputs"] = str(tmp / "images.npz")

    # graph run: COO inputs as trained on; the dense signature gets the raw 0/1 adjacency
    run_dir, search, model = _run(tmp, "graph", GRAPH_RUN)
    g = search.data
    x, a = g.inputs()
    ref["graph_logits"] = model([x, a], training=False).numpy()
    coo = {}
    for name, t in (("x", x), ("a", a)):
        coo[f"{name}_indices"] = t.indices.numpy()
        coo[f"{name}_values"] = t.values.numpy()
        coo[f"{name}_dense_shape"] = t.dense_shape.numpy()
    a_raw = (g.a.toarray() != 0).astype(np.float32)
    np.fill_diagonal(a_raw, 0.0)  # the unweighted graph the loader normalised
    ref["a_raw"], ref["graph"] = a_raw, g
    np.savez(tmp / "graph.npz", x_dense=g.x, a_raw=a_raw, **coo)
    jobs.update(graph=str(run_dir / "ticket"), graph_inputs=str(tmp / "graph.npz"))
    jobs["bad"] = _bad_coo(coo)
    del tf

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    (tmp / "serve.py").write_text(SERVE)
    proc = subprocess.run(
        [sys.executable, str(tmp / "serve.py"), json.dumps(jobs)],
        capture_output=True, text=True, env=env, cwd=tmp, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    with np.load(jobs["out"]) as z:
        res.update({k: z[k] for k in z.files})
    return res, ref


def test_the_fresh_process_never_imported_lth_tf(served):
    res, _ = served
    assert res["leaked"] == []


def test_raw_uint8_images_classify_as_the_run_does(served):
    res, ref = served
    assert res["raw_dtype"] == "uint8"
    np.testing.assert_allclose(res["raw_logits"], ref["logits"], atol=1e-4, rtol=0)
    expected = np.argmax(ref["logits"], axis=1)
    np.testing.assert_array_equal(res["raw_class_index"], expected)
    assert np.mean(res["raw_class_index"] == ref["y"]) == np.mean(expected == ref["y"])
    np.testing.assert_allclose(res["raw_probabilities"].sum(axis=1), 1.0, atol=1e-5)
    # the snippet `lth-tf export` prints runs as printed and gives the same classes
    np.testing.assert_array_equal(res["snippet_class_index"], expected)


def test_the_normalized_signature_is_kept(served):
    res, ref = served
    np.testing.assert_allclose(res["norm_logits"], ref["logits"], atol=1e-5, rtol=0)


def test_the_marker_records_the_normalisation(served):
    _, ref = served
    marker = ref["marker"]
    assert marker["raw_input"] is True
    np.testing.assert_allclose(marker["normalization"]["mean"], np.ravel(ref["mean"]), rtol=1e-6)
    np.testing.assert_allclose(marker["normalization"]["std"], np.ravel(ref["std"]), rtol=1e-6)
    assert set(marker) >= {"serving_default", "serving_normalized"}
    assert marker["serving_default"]["inputs"]["image"].startswith("uint8")
    assert "tf.saved_model.load" in ref["snippet"][1]
    assert 'signatures["serving_default"]' in ref["snippet"][2]


def test_class_names_are_stored_and_named_in_the_output(served):
    res, ref = served
    assert res["class_names"] == list(NAMES)
    np.testing.assert_array_equal(res["named_class_index"], ref["named_class_index"])
    assert res["class_name"] == [NAMES[i] for i in ref["named_class_index"]]


def test_without_data_only_the_float_signature(served):
    res, ref = served
    assert res["nodata_dtype"] == "float32"
    assert "class_names" not in res["nodata_signatures"]
    assert ref["nodata_marker"]["raw_input"] is False and ref["nodata_marker"]["note"]


def test_gcn_dense_signature_matches_the_coo_one(served):
    res, ref = served
    from lth_tf.keras_side.data.graph import gcn_normalise

    # the raw adjacency fed to serving_dense is the one the loader normalised
    np.testing.assert_allclose(
        gcn_normalise(ref["a_raw"]).toarray(), ref["graph"].a.toarray(), atol=1e-7
    )
    np.testing.assert_allclose(res["coo_logits"], ref["graph_logits"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(res["dense_logits"], res["coo_logits"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("case", sorted(BAD_COO))
def test_bad_gcn_inputs_raise_in_the_graph(served, case):
    res, _ = served
    message = res["bad"][case]
    assert message is not None, f"{case}: accepted"
    assert BAD_COO[case] in message


def test_dense_adjacency_of_the_wrong_shape_raises(served):
    res, _ = served
    assert res["bad_dense"] is not None and "a must be (N, N)" in res["bad_dense"]
