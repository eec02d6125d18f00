"""What `--format tflite` (lth_tf.export.tflite) really stores, with the installed TensorFlow.

- a >= 90%-sparse Dense kernel is stored sparse: exactly its nonzeros, and the file
  is smaller than the dense conversion of the same model by about the zeros' bytes;
- the sparse tensors are read only by DENSIFY ops (the runtime computes dense:
  the module's docstring says so, this keeps the claim checked);
- the marker describes what is stored;
- with `ai-edge-litert` installed (the `[litert]` extra), the file serves through
  LiteRT in a process that imports neither TensorFlow nor lth_tf, as the usage
  lines `lth-tf export` prints say.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest


def _mlp(sparsity: float, seed: int = 0):
    """Flatten -> Dense 64 -> Dense 4 on (8, 8, 3), the hidden kernel masked at `sparsity`."""
    from lth_tf.platform.backend import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Flatten()(inp)
    x = keras.layers.Dense(64, activation="relu", name="hidden")(x)
    model = keras.Model(inp, keras.layers.Dense(4, name="output")(x))
    kernel = model.get_layer("hidden").kernel
    k = kernel.numpy()
    k[np.random.default_rng(seed).random(k.shape) < sparsity] = 0.0
    kernel.assign(k)
    return model


@pytest.fixture(scope="module")
def converted():
    from lth_tf.export import tflite

    model = _mlp(0.95)
    return model, tflite.convert(model), tflite.convert(model, sparse=False)


def test_a_95_percent_sparse_dense_kernel_is_stored_sparse(converted):
    from lth_tf.export import tflite

    model, blob, dense_blob = converted
    kernel = model.get_layer("hidden").kernel.numpy()
    nonzeros = int(np.count_nonzero(kernel))
    # TFLite's FULLY_CONNECTED keeps weights as (units, inputs): the Keras kernel transposed
    hidden = [t for t in tflite.sparse_weights(blob) if t["shape"] == list(kernel.T.shape)]
    assert len(hidden) == 1, tflite.sparse_weights(blob)
    assert hidden[0]["stored"] == nonzeros
    assert tflite.sparse_weights(dense_blob) == []  # the baseline stores nothing sparse
    zeros_bytes = 4 * (kernel.size - nonzeros)
    # the CSR indices cost at most 4 bytes a nonzero and a row pointer a row
    assert len(dense_blob) - len(blob) > zeros_bytes - 4 * (nonzeros + kernel.shape[1] + 1) - 1024


def test_the_sparse_weights_are_densified_before_use(converted):
    from lth_tf.export import tflite

    _model, blob, _ = converted
    stored = tflite.sparse_weights(blob)
    assert stored and all(t["read_by"] == ["DENSIFY"] for t in stored), stored


def test_the_marker_says_what_is_stored_sparse(tmp_path):
    from lth_tf.export import description, export_savedmodel

    model = _mlp(0.9, seed=1)
    path = export_savedmodel(model, tmp_path / "t", format="tflite")
    stored = description(path)["stored_sparse"]
    nonzeros = int(np.count_nonzero(model.get_layer("hidden").kernel.numpy()))
    assert stored["tensors"] >= 1 and stored["values"] >= nonzeros
    assert stored["read_by"] == ["DENSIFY"]


def test_litert_is_the_interpreter_when_installed():
    pytest.importorskip("ai_edge_litert")
    from ai_edge_litert.interpreter import Interpreter

    from lth_tf.export import tflite

    assert tflite.interpreter_api()[0] is Interpreter
    assert "ai_edge_litert" in tflite.usage("t")[0]


@pytest.mark.slow  # a fresh process serving the export
def test_the_export_serves_with_litert_without_tensorflow(tmp_path):
    """The printed usage lines, run as written in a fresh process: logits equal the model's."""
    pytest.importorskip("ai_edge_litert")
    from lth_tf.export import export_savedmodel, tflite

    model = _mlp(0.9, seed=2)
    path = export_savedmodel(model, tmp_path / "t", format="tflite")
    x = np.random.default_rng(3).standard_normal((1, 8, 8, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    lines = tflite.usage(str(path))
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        normalised_image = np.load({str(tmp_path / "x.npy")!r})
        {lines[0]}
        {lines[1]}
        {lines[2]}
        np.save({str(tmp_path / "y.npy")!r}, it.get_tensor(it.get_output_details()[0]["index"]))
        print(any(m.split(".")[0] in ("tensorflow", "lth_tf", "tf_keras") for m in sys.modules))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-800:]
    assert out.stdout.strip().splitlines()[-1] == "False"  # no TensorFlow needed to serve it
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model(x, training=False).numpy(), atol=1e-5)


def _fast_sparse_convnet(sparsity: float, seed: int = 0):
    """The Fast-Sparse-ConvNets shape in small (MobileNet's): a 3x3 stride-2 stem on 3 channels,
    depthwise and 1x1 convolutions, a global mean, logits; the 1x1 kernels masked at `sparsity`."""
    from lth_tf.platform.backend import keras

    L = keras.layers
    keras.utils.set_random_seed(seed)
    inp = keras.Input((16, 16, 3))
    x = L.Conv2D(8, 3, 2, padding="same", activation="relu6", name="stem")(inp)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu6", name="dw1")(x)
    x = L.Conv2D(32, 1, activation="relu6", name="pw1")(x)
    x = L.DepthwiseConv2D(3, 2, padding="same", activation="relu6", name="dw2")(x)
    x = L.Conv2D(64, 1, activation="relu6", name="pw2")(x)
    model = keras.Model(inp, L.Dense(10, name="output")(L.GlobalAveragePooling2D()(x)))
    rng = np.random.default_rng(seed)
    for name in ("pw1", "pw2"):
        kernel = model.get_layer(name).kernel
        k = kernel.numpy()
        k[rng.random(k.shape) < sparsity] = 0.0
        kernel.assign(k)
    return model


def test_a_mobilenet_shaped_ticket_serves_with_litert_as_keras_predicts(tmp_path):
    """The export of a ticket pruned on its 1x1 convolutions: those kernels are stored sparse, each
    densified into a CONV_2D (the graph XNNPACK's delegate takes as its hint to try sparse
    inference: docs/export.md), and LiteRT (tf.lite without it) predicts what Keras predicts."""
    from lth_tf.export import export_savedmodel, tflite

    model = _fast_sparse_convnet(0.9)
    path = export_savedmodel(model, tmp_path / "t", format="tflite")
    content = (path / tflite.MODEL_FILE).read_bytes()
    stored = {tuple(t["shape"]) for t in tflite.sparse_weights(content)}
    # TFLite's CONV_2D keeps its filter as (out, H, W, in)
    assert stored == {(32, 1, 1, 8), (64, 1, 1, 32)}, stored
    interpreter, resolver = tflite.interpreter_api()
    graph = interpreter(model_content=content,
                        experimental_op_resolver_type=resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    ops = graph._get_ops_details()
    densified = {o for op in ops if op["op_name"] == "DENSIFY" for o in op["outputs"]}
    readers = sorted(op["op_name"] for op in ops if densified & set(op["inputs"]))
    assert readers == ["CONV_2D", "CONV_2D"], readers
    it = interpreter(model_path=str(path / tflite.MODEL_FILE))  # default delegate (XNNPACK)
    it.allocate_tensors()
    x = np.random.default_rng(4).standard_normal((1, 16, 16, 3)).astype(np.float32)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    got = it.get_tensor(it.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, model(x, training=False).numpy(), rtol=1e-4, atol=1e-5)
