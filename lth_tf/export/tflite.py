"""A TFLite export of an image ticket, its pruned kernels stored sparse.

TensorFlow 2.21's converter (tf.lite.TFLiteConverter, still shipped though
deprecated in favour of LiteRT) accepts `tf.lite.Optimize.EXPERIMENTAL_SPARSITY`:
kernels with enough zeros are written in TFLite's sparse tensor format (CSR:
the file holds only their nonzeros; tests/test_export_tflite.py checks it).
They are stored sparse; whether they are computed sparse is XNNPACK's choice. The
converter puts a DENSIFY op in front of every CONV_2D and FULLY_CONNECTED that reads
one; XNNPACK's delegate (on by default in LiteRT's and tf.lite's Interpreter)
densifies them once when it takes the graph and, because the graph had sparse
weights, asks XNNPACK for sparse inference (XNN_FLAG_HINT_SPARSE_INFERENCE: there is
no other switch, in Python or in the delegate's flags). XNNPACK then rewrites the
graph to NCHW with SpMM kernels for 1x1 convolutions (Fast Sparse ConvNets) only if
(1) the CPU is not an x86 with AVX: ai-edge-litert 2.3.0 and TF 2.21 skip the rewrite
on every AVX CPU, and (2) the graph has that form: a 3x3 stride-2 conv on 3 channels,
1x1 and depthwise convs, a spatial MEAN, with stride-2 3x3 convs padded 1 on each
side; Keras' "same" padding pads them (0, 1) on even sizes, which it refuses.
So on x86 the speed is the dense .tflite's and the gain is the file size (measured
for Conv-4, LeNet-300-100 in benchmarks/efficiency.py --only tflite; MobileNetV2 and
the evidence in benchmarks/litert_sparse.py, docs/export.md).

Reading a .tflite (`interpreter`): LiteRT's `ai_edge_litert.interpreter.Interpreter`
(`pip install 'lth-tf[litert]'`, the successor TF 2.21 points to) when it is
installed, else `tf.lite.Interpreter`, which TF 2.21 still ships but warns is
deprecated. The usage lines `lth-tf export` prints serve the file with LiteRT.

Graph models are refused: their inputs are SparseTensors, which TFLite lacks.
The file takes the normalised float32 image, (pixels - mean) / std, and returns
logits; the marker JSON gives mean, std and class names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lth_tf.core.errors import LthError
from lth_tf.platform.backend import tf

MODEL_FILE = "model.tflite"


def convert(model, sparse: bool = True) -> bytes:
    """The .tflite bytes of a single-input image model (float32 in, logits out);
    `sparse=False` leaves out the sparsity optimisation (a dense baseline)."""
    inputs = list(model.inputs)
    if len(inputs) != 1 or inputs[0].shape.rank != 4 or len(model.outputs) != 1:
        raise LthError(
            f"--format tflite takes image models (one (N, H, W, C) input, one output); "
            f"model '{model.name}' has {len(inputs)} input(s) of ranks "
            f"{[i.shape.rank for i in inputs]}; use --format sparse"
        )
    shape = [1, *inputs[0].shape[1:]]  # fixed batch 1: the interpreter resizes it if asked

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, "image")])
    def logits(image):
        return {"logits": model(image, training=False)}

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [logits.get_concrete_function()], model
    )
    converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if sparse else []
    return converter.convert()


def interpreter_api() -> tuple[type, Any]:
    """(Interpreter, OpResolverType): LiteRT's when `ai-edge-litert` is installed, else tf.lite's."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        return tf.lite.Interpreter, tf.lite.experimental.OpResolverType
    return Interpreter, OpResolverType


def sparse_weights(content: bytes) -> list[dict[str, Any]]:
    """The tensors `content` (.tflite bytes) stores sparse: name, shape, values stored
    and the ops that read them (builtin kernels, no delegate: the graph as written)."""
    interpreter, resolver = interpreter_api()
    it = interpreter(
        model_content=content,
        experimental_op_resolver_type=resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    # _get_ops_details: the only Python view of which op reads which tensor
    ops = it._get_ops_details()
    found = []
    for d in it.get_tensor_details():
        params = d["sparsity_parameters"]
        if params:
            stored = 1  # entries at each level of the format: dense levels multiply, sparse list theirs
            for level in params["dim_metadata"]:
                dense = level["format"] == 0
                stored = stored * level["dense_size"] if dense else len(level["array_indices"])
            found.append({"name": d["name"], "shape": [int(n) for n in d["shape"]], "stored": stored,
                          "read_by": sorted({o["op_name"] for o in ops if d["index"] in o["inputs"]})})
    return found


def write(model, data: Any, folder: Path) -> dict[str, Any]:
    """Write MODEL_FILE into `folder`; returns the marker's description."""
    folder.mkdir(parents=True, exist_ok=True)
    content = convert(model)
    (folder / MODEL_FILE).write_bytes(content)
    stored = sparse_weights(content)
    mean, std = getattr(data, "mean", None), getattr(data, "std", None)
    names = [str(n) for n in getattr(data, "class_names", ()) or ()]
    return {
        "format": "TFLite",
        "file": MODEL_FILE,
        "inputs": {"image": "float32 (1, H, W, C), (pixels - mean) / std per channel"},
        "outputs": {"logits": f"float32 (1, {int(model.outputs[0].shape[-1])})"},
        "normalization": None if mean is None else {
            "mean": [float(m) for m in np.ravel(mean)],
            "std": [float(s) for s in np.ravel(std)],
            "scale": "0..255, per channel",
        },
        "class_names": names or None,
        "optimization": "tf.lite.Optimize.EXPERIMENTAL_SPARSITY (tensorflow " + tf.__version__ + ")",
        "stored_sparse": {"tensors": len(stored), "values": sum(t["stored"] for t in stored),
                          "read_by": sorted({op for t in stored for op in t["read_by"]})},
    }


def usage(path: str) -> list[str]:
    """Three lines of Python that serve the file with LiteRT (`pip install ai-edge-litert`)."""
    return [
        "from ai_edge_litert.interpreter import Interpreter  # pip install ai-edge-litert",
        f'it = Interpreter(model_path="{Path(path) / MODEL_FILE}"); it.allocate_tensors()',
        'it.set_tensor(it.get_input_details()[0]["index"], normalised_image); it.invoke()',
    ]
