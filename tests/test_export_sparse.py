"""The sparse export (issue 12): pruned kernels without their zeros, served by plain TF.

- packing round trip (pure numpy, property-based);
- a tiny image model and a tiny GCN exported sparse (and dense) are called in ONE
  fresh process that never imports lth_tf; the sparse export must give the masked
  model's logits (atol 1e-5) and the dense export's, on every signature;
- `variables/` stays within 1.2x the bound at 50/80/95% sparsity, and holds no
  dense kernel;
- the TFLite export (image models) carries the sparse weights and the logits.
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
from hypothesis import given, settings
from hypothesis import strategies as st

from lth_tf.export import packing

# -- packing (no TF) ---------------------------------------------------------------------------
shapes = st.lists(st.integers(1, 7), min_size=0, max_size=3).map(tuple)


@st.composite
def kernels(draw):
    out = []
    for _ in range(draw(st.integers(0, 4))):
        shape = draw(shapes)
        seed = draw(st.integers(0, 2**31 - 1))
        sparsity = draw(st.floats(0.0, 1.0))
        rng = np.random.default_rng(seed)
        k = rng.standard_normal(shape).astype(np.float32)
        k[rng.random(shape) < sparsity] = 0.0
        k[rng.random(shape) < 0.1] *= -0.0  # masking leaves -0.0 where a negative weight was pruned
        out.append(k)
    return out


@settings(deadline=None)  # max_examples: the Hypothesis profile (tests/conftest.py)
@given(kernels())
def test_pack_unpack_round_trip_is_exact(ks):
    packed = packing.pack(ks)
    back = packing.unpack(packed)
    assert len(back) == len(ks)
    for k, b in zip(ks, back):
        assert b.shape == k.shape and b.dtype == np.float32
        assert np.array_equal(b, k)  # zeros equal (-0.0 == 0.0) ...
        nz = k != 0
        assert np.array_equal(b[nz].view(np.uint32), k[nz].view(np.uint32))  # ... the rest bit for bit
    total = sum(k.size for k in ks)
    nonzeros = sum(int(np.count_nonzero(k)) for k in ks)
    assert packed.values.size == nonzeros and packed.bits.size == -(-total // 8)
    # 4 B per nonzero + ceil(total / 8) B of bits: exactly the bound (no other weights here)
    assert packed.bits.nbytes + packed.values.nbytes == packing.bound_bytes(ks, [])


def test_bound_counts_nonzeros_bits_and_others():
    k = np.array([[0.0, 1.5, -0.0], [2.0, 0.0, 0.0]], np.float32)
    other = np.ones(5, np.float32)
    # 2 nonzeros * 4 B + 6 bits (rounded up with the rest) + 5 * 4 B
    assert packing.bound_bytes([k], [other]) == (2 * 32 + 6 + 5 * 32 + 7) // 8


# -- exports served in a fresh process -----------------------------------------------------------
SERVE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    jobs = json.loads(sys.argv[1])
    out = {}
    for key, job in jobs["calls"].items():
        m = tf.saved_model.load(job["path"])
        feeds = np.load(job["inputs"])
        got = m.signatures[job["signature"]](**{k: tf.constant(feeds[k]) for k in feeds.files})
        out[key] = got["logits"].numpy()
    np.savez(jobs["out"], **out)
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in
                            ("lth_tf", "spektral", "tensorflow_model_optimization"))))
    """
)


def _masked(wrapped, sparsity: float, seed: int):
    """Random masks of `sparsity` on every pruned kernel; returns (plain model, pruned variables)."""
    from lth_tf.export import sparse
    from lth_tf.keras_side import pruning as P

    rng = np.random.default_rng(seed)
    kernels = P.get_kernels(wrapped)
    P.set_masks(wrapped, {k: (rng.random(v.shape) >= sparsity).astype(np.float32)
                             for k, v in kernels.items()})
    plain = P.strip(wrapped)
    return plain, sparse.pruned_weights(wrapped, plain)


def _image_model(seed: int = 0, units: int = 32):
    from lth_tf.platform.backend import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, name="conv")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(units, activation="relu", name="hidden")(x)
    return keras.Model(inp, keras.layers.Dense(4, name="output")(x))


def _randomise_bn(model) -> None:
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if layer.name == "bn":
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, layer.moving_variance.shape))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from lth_tf.export import description, export_savedmodel
    from lth_tf.frontends.cli import main as cli
    from lth_tf.keras_side import pruning as P
    from lth_tf.search.lottery import LotterySearch

    tmp = tmp_path_factory.mktemp("sparse")
    calls, ref, docs = {}, {}, {}

    # a tiny image model at 95%: conv rebuilt dense, both Dense kernels sparse matmuls

    model = _image_model()
    _randomise_bn(model)
    plain, pruned = _masked(P.wrap(model), 0.95, seed=0)
    _randomise_bn(plain)
    info = SimpleNamespace(mean=np.full(3, 120.0), std=np.full(3, 60.0), class_names=())
    raw = np.random.default_rng(2).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    norm = ((raw.astype(np.float32) - 120.0) * np.float32(1 / 60.0)).astype(np.float32)
    ref["image"] = plain(norm, training=False).numpy()
    np.savez(tmp / "raw.npz", image=raw)
    np.savez(tmp / "norm.npz", image=norm)
    for fmt in ("dense", "sparse"):
        path = export_savedmodel(plain, tmp / f"image-{fmt}", info, format=fmt, pruned=pruned)
        docs[f"image-{fmt}"] = description(path)
        calls[f"image-{fmt}-raw"] = {"path": str(path), "signature": "serving_default",
                                     "inputs": str(tmp / "raw.npz")}
        calls[f"image-{fmt}-norm"] = {"path": str(path), "signature": "serving_normalized",
                                      "inputs": str(tmp / "norm.npz")}

    # a GCN run through the CLI, exported --format sparse; then its model at 95%
    out = tmp / "runs"
    args = ["--preset", "smoke", "--set", "data.name=synthetic_graph", "--set", "model.name=gcn",
            "--set", "train.epochs=2", "--set", "prune.rounds=1", "--set", "prune.tolerance=1.0",
            "--set", "prune.controls="]
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["run", *args, "--out", str(out), "--quiet", "--no-export"]) == 0
        (run_dir,) = [d for d in out.iterdir() if d.is_dir()]
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            assert cli.main(["export", str(run_dir), "--round", "1", "--format", "sparse",
                             "--out", str(tmp / "gcn-cli")]) == 0
    ref["cli_lines"] = err.getvalue()
    search = LotterySearch.open(run_dir)
    g = search.data
    x, a = g.inputs()
    coo = {}
    for name, t in (("x", x), ("a", a)):
        coo[f"{name}_indices"] = t.indices.numpy()
        coo[f"{name}_values"] = t.values.numpy()
        coo[f"{name}_dense_shape"] = t.dense_shape.numpy()
    np.savez(tmp / "coo.npz", **coo)
    ref["gcn-cli"] = P.strip(search.model_for_round(1))([x, a], training=False).numpy()
    calls["gcn-cli"] = {"path": str(tmp / "gcn-cli"), "signature": "serving_default",
                        "inputs": str(tmp / "coo.npz")}
    docs["gcn-cli"] = description(tmp / "gcn-cli")
    plain, pruned = _masked(search.model_for_round(1), 0.95, seed=3)
    ref["gcn"] = plain([x, a], training=False).numpy()
    for fmt in ("dense", "sparse"):
        path = export_savedmodel(plain, tmp / f"gcn-{fmt}", g, format=fmt, pruned=pruned)
        docs[f"gcn-{fmt}"] = description(path)
        calls[f"gcn-{fmt}"] = {"path": str(path), "signature": "serving_default",
                               "inputs": str(tmp / "coo.npz")}

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    (tmp / "serve.py").write_text(SERVE)
    jobs = {"calls": calls, "out": str(tmp / "out.npz")}
    proc = subprocess.run([sys.executable, str(tmp / "serve.py"), json.dumps(jobs)],
                          capture_output=True, text=True, env=env, cwd=tmp, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    leaked = json.loads(proc.stdout.strip().splitlines()[-1])
    with np.load(tmp / "out.npz") as z:
        got = {k: z[k] for k in z.files}
    return SimpleNamespace(got=got, ref=ref, docs=docs, leaked=leaked, tmp=tmp)


@pytest.mark.slow  # `served`: a search through the CLI, exports served in a fresh process
def test_served_without_lth_tf(served):
    assert served.leaked == []


@pytest.mark.slow  # `served`: a search through the CLI, exports served in a fresh process
def test_sparse_image_export_gives_the_masked_models_logits(served):
    for sig in ("raw", "norm"):
        np.testing.assert_allclose(served.got[f"image-sparse-{sig}"], served.ref["image"], atol=1e-5)
        np.testing.assert_allclose(served.got[f"image-sparse-{sig}"], served.got[f"image-dense-{sig}"],
                                   atol=1e-5)
    w = served.docs["image-sparse"]["weights"]
    assert w["sparse_matmul_layers"] == ["hidden", "output"]  # 95% >= threshold; conv stays dense
    assert set(served.docs["image-sparse"]) >= {"serving_default", "serving_normalized", "normalization"}


@pytest.mark.slow  # `served`: a search through the CLI, exports served in a fresh process
def test_sparse_gcn_export_gives_the_masked_models_logits(served):
    np.testing.assert_allclose(served.got["gcn-sparse"], served.ref["gcn"], atol=1e-5)
    np.testing.assert_allclose(served.got["gcn-sparse"], served.got["gcn-dense"], atol=1e-5)
    # the first layer's input (node features) is sparse: its kernel is rebuilt dense
    assert served.docs["gcn-sparse"]["weights"]["sparse_matmul_layers"] == ["output"]
    assert "serving_dense" in served.docs["gcn-sparse"]


@pytest.mark.slow  # `served`: a search through the CLI, exports served in a fresh process
def test_cli_export_format_sparse(served):
    np.testing.assert_allclose(served.got["gcn-cli"], served.ref["gcn-cli"], atol=1e-5)
    assert "the bound" in served.ref["cli_lines"] and "sparse format)" in served.ref["cli_lines"]
    assert served.docs["gcn-cli"]["weights"]["nonzeros"] < served.docs["gcn-cli"]["weights"]["pruned_weights"]


@pytest.mark.slow  # `served`: a search through the CLI, exports served in a fresh process
def test_sparse_export_saves_only_the_packed_blob(served):
    from lth_tf.platform.backend import tf

    names = {n for n, _ in tf.train.list_variables(str(served.tmp / "image-sparse" / "variables" / "variables"))}
    assert names == {"_CHECKPOINTABLE_OBJECT_GRAPH", "blob/.ATTRIBUTES/VARIABLE_VALUE"}


# -- size against the bound ----------------------------------------------------------------------
@pytest.mark.parametrize("sparsity", [0.5, 0.8, 0.95])
def test_variables_within_1_2x_of_the_bound(tmp_path, sparsity):
    from lth_tf.export import description, directory_size, export_savedmodel
    from lth_tf.keras_side import pruning as P

    model = _image_model(units=64)  # 19.5k prunable weights
    plain, pruned = _masked(P.wrap(model), sparsity, seed=4)
    path = export_savedmodel(plain, tmp_path / "t", format="sparse", pruned=pruned)
    ids = {id(v) for v in pruned}
    nonzeros = sum(int(np.count_nonzero(v.numpy())) for v in pruned)
    total = sum(int(v.shape.num_elements()) for v in pruned)
    others = sum(int(v.shape.num_elements()) for v in plain.weights if id(v) not in ids)
    bound = (32 * nonzeros + total + 32 * others + 7) // 8
    assert description(path)["weights"]["bound_bytes"] == bound
    stored = directory_size(path / "variables")
    assert stored <= 1.2 * bound, (stored, bound)
    assert stored < 4 * total * (1 - sparsity) + total / 8 + 4 * others + 1024  # no dense copy


# -- TFLite ------------------------------------------------------------------------------------
def test_tflite_export_is_sparse_and_gives_the_logits(tmp_path):
    from lth_tf.export import description, export_savedmodel, is_our_export
    from lth_tf.keras_side import pruning as P
    plain, pruned = _masked(P.wrap(_image_model(units=64)), 0.9, seed=5)
    path = export_savedmodel(plain, tmp_path / "t", format="tflite")
    assert is_our_export(path) and description(path)["format"] == "TFLite"
    blob = (path / "model.tflite").read_bytes()
    dense_bytes = 4 * sum(int(v.shape.num_elements()) for v in pruned)
    assert len(blob) < 0.5 * dense_bytes
    from lth_tf.export.tflite import interpreter_api

    it = interpreter_api()[0](model_content=blob)  # LiteRT when installed, else tf.lite
    it.allocate_tensors()
    x = np.random.default_rng(6).standard_normal((1, 8, 8, 3)).astype(np.float32)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    got = it.get_tensor(it.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, plain(x, training=False).numpy(), atol=1e-5)
    export_savedmodel(plain, path, format="tflite")  # an earlier TFLite export of ours is replaced


def test_tflite_refuses_graph_models(tmp_path):
    from lth_tf.core import config as C
    from lth_tf.core.errors import LthError
    from lth_tf.export import export_savedmodel
    from lth_tf.keras_side import models

    gcn = models.build(C.Model(name="gcn"), (6,), 3, 0)
    with pytest.raises(LthError, match="image models"):
        export_savedmodel(gcn, tmp_path / "t", format="tflite")
    assert not (tmp_path / "t").exists()
