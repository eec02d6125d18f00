"""A TFLite export of an image ticket, its pruned kernels stored sparse.

TensorFlow 2.21's converter (tf.lite.TFLiteConverter, still shipped though
deprecated in favour of LiteRT) accepts `tf.lite.Optimize.EXPERIMENTAL_SPARSITY`:
kernels with enough zeros are written in TFLite's sparse tensor format
(checked in tests/test_export_sparse.py: the file is smaller than the dense
weights and gives the ticket's logits). Whether a runtime computes with them
sparsely is up to it (XNNPACK's sparse kernels need particular conv patterns;
other ops densify the weights when the model loads).

Graph models are refused: their inputs are SparseTensors, which TFLite lacks.
The file takes the normalised float32 image, (pixels - mean) / std, and returns
logits; the marker JSON gives mean, std and class names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lth_tf._keras import tf
from lth_tf.errors import LthError

MODEL_FILE = "model.tflite"


def convert(model) -> bytes:
    """The .tflite bytes of a single-input image model (float32 in, logits out)."""
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
    converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    return converter.convert()


def write(model, data: Any, folder: Path) -> dict[str, Any]:
    """Write MODEL_FILE into `folder`; returns the marker's description."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MODEL_FILE).write_bytes(convert(model))
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
    }


def usage(path: str) -> list[str]:
    return [
        "import tensorflow as tf  # or ai_edge_litert.interpreter",
        f'it = tf.lite.Interpreter(model_path="{Path(path) / MODEL_FILE}"); it.allocate_tensors()',
        'it.set_tensor(it.get_input_details()[0]["index"], normalised_image); it.invoke()',
    ]
