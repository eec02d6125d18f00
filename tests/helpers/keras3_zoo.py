"""The Keras 3 model zoo of the translation tests, and the checks they share.

Every builder returns a fresh Keras 3 model (seeded) for 32x32x3 images or the
input its kind needs, under any Keras backend (the module imports lth_tf only
where TensorFlow is there); `calibrated` gives the BatchNorm layers the statistics of
a batch, so activations have the scale of a trained network (a freshly
initialised MobileNetV2 otherwise outputs logits near 1e-10, where any
comparison passes).
"""

from __future__ import annotations

try:
    from lth_tf.platform.backend import keras3

    keras = keras3()  # after lth_tf set TF_USE_LEGACY_KERAS
except ImportError:  # a process with another Keras backend and no TensorFlow
    import keras

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from helpers import keras3_custom as custom

IMAGE = (32, 32, 3)
CLASSES = 3


def mobilenetv2():
    return keras.applications.MobileNetV2(alpha=0.35, weights=None, input_shape=IMAGE, classes=CLASSES)


def resnet50():
    return keras.applications.ResNet50(weights=None, input_shape=IMAGE, classes=CLASSES)


def efficientnetb0():
    """With its Rescaling and Normalization layers (weights=None: mean 0, variance 1)."""
    return keras.applications.EfficientNetB0(weights=None, input_shape=IMAGE, classes=CLASSES)


def mobilenetv3small():
    """Arithmetic on symbolic tensors (its hard sigmoid: relu6(x + 3) * (1 / 6)) and hard_silu."""
    return keras.applications.MobileNetV3Small(weights=None, input_shape=IMAGE, classes=CLASSES)


def transfer_mobilenetv2():
    """The transfer-learning pattern: a headless MobileNetV2 nested as a layer, a new head."""
    base = keras.applications.MobileNetV2(
        alpha=0.35, include_top=False, weights=None, input_shape=IMAGE, pooling="avg"
    )
    x = keras.Input(IMAGE, name="image")
    h = keras.layers.Dropout(0.2, name="head_drop")(base(x))
    return keras.Model(x, keras.layers.Dense(CLASSES, name="head")(h), name="transfer")


def residual_cnn():
    """Functional CNN: residual Add, BatchNormalization, Dropout, SeparableConv2D."""
    x = keras.Input(IMAGE, name="image")
    h = keras.layers.Conv2D(16, 3, padding="same", name="stem")(x)
    h = keras.layers.BatchNormalization(name="stem_bn")(h)
    h = keras.layers.ReLU(name="stem_relu")(h)
    r = keras.layers.SeparableConv2D(16, 3, padding="same", name="sep1")(h)
    r = keras.layers.BatchNormalization(name="sep1_bn")(r)
    r = keras.layers.Activation("relu", name="sep1_relu")(r)
    r = keras.layers.Conv2D(16, 3, padding="same", name="conv2")(r)
    h = keras.layers.Add(name="residual")([h, r])
    h = keras.layers.MaxPooling2D(name="pool")(h)
    h = keras.layers.Dropout(0.3, name="drop")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    return keras.Model(x, keras.layers.Dense(CLASSES, activation="softmax", name="head")(h), name="residual_cnn")


def mlp():
    """Sequential MLP on 12 features."""
    return keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(32, activation="relu", name="fc1"),
            keras.layers.Dropout(0.2, name="drop"),
            keras.layers.Dense(16, activation="gelu", name="fc2"),
            keras.layers.Dense(CLASSES, name="logits"),
        ],
        name="mlp",
    )


def text_lstm():
    """Embedding (mask_zero) + LSTM text classifier on 20 token ids."""
    x = keras.Input((20,), dtype="int32", name="tokens")
    h = keras.layers.Embedding(100, 16, mask_zero=True, name="embed")(x)
    h = keras.layers.LSTM(16, name="lstm")(h)
    return keras.Model(x, keras.layers.Dense(CLASSES, name="logits")(h), name="text_lstm")


def custom_layers():
    """Registered custom layers: a Dense subclass and a plain Layer written with keras.ops."""
    x = keras.Input((12,), name="features")
    h = custom.ScaledDense(16, factor=1.5, activation="relu", name="scaled")(x)
    h = custom.Scale(0.5, name="scale")(h)
    return keras.Model(x, keras.layers.Dense(CLASSES, name="logits")(h), name="custom_layers")


# name -> (builder, slow)
ZOO = {
    "mobilenetv2": (mobilenetv2, False),
    "resnet50": (resnet50, True),
    "efficientnetb0": (efficientnetb0, True),
    "mobilenetv3small": (mobilenetv3small, True),
    "transfer_mobilenetv2": (transfer_mobilenetv2, True),
    "residual_cnn": (residual_cnn, False),
    "mlp": (mlp, False),
    "text_lstm": (text_lstm, False),
    "custom_layers": (custom_layers, False),
}


def build(name: str, seed: int = 0):
    keras.utils.set_random_seed(seed)
    return ZOO[name][0]()


def batch(model, size: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Inputs for `model` (numpy only, any backend): N(0, 1) floats; token ids in 1..99,
    sequence i ending in i zeros."""
    rng = np.random.default_rng(seed)
    out = []
    for t in model.inputs:
        shape = (size, *tuple(t.shape)[1:])
        if "int" in str(t.dtype):
            ids = rng.integers(1, 100, shape).astype("int32")
            for i in range(min(size, shape[1])):
                ids[i, shape[1] - i :] = 0  # padding at the end, so masks matter
            out.append(ids)
        else:
            out.append(rng.standard_normal(shape).astype("float32"))
    return out


def calibrated(model, size: int = 32):
    """`model` with each BatchNormalization's moving statistics set to a batch's."""
    x = batch(model, size, seed=1)
    bns = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns:
        return model
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = 0.0
    model(x if len(x) > 1 else x[0], training=True)
    for bn, m in zip(bns, momenta):
        bn.momentum = m
    return model


def _all_layers(model) -> list:
    return [x for layer in model.layers for x in ([layer, *_all_layers(layer)] if hasattr(layer, "layers") else [layer])]


def random_masks(shapes: dict[str, tuple], sparsity: float, seed: int = 0) -> dict[str, np.ndarray]:
    """0/1 float32 masks with exactly round(sparsity * size) zeros each."""
    rng = np.random.default_rng(seed)
    masks = {}
    for key, shape in sorted(shapes.items()):
        size = int(np.prod(shape))
        flat = np.ones(size, np.float32)
        flat[rng.permutation(size)[: round(sparsity * size)]] = 0.0
        masks[key] = flat.reshape(shape)
    return masks


# -- a saved Keras 3 ticket, loaded where lth_tf and tf_keras cannot be imported ---------------

TESTS = Path(__file__).resolve().parents[1]  # on the fresh process's path: `helpers` imports
LOADER = textwrap.dedent(
    """
    import importlib.abc, json, sys
    import numpy as np

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in ("lth_tf", "tf_keras", "tensorflow_model_optimization"):
                raise ImportError(f"{name} must not be needed to load a Keras 3 ticket")
            return None

    sys.meta_path.insert(0, Refuse())
    import keras
    import helpers.keras3_custom  # registers the zoo's custom layers, as the user's own module would

    out = {}
    for name, path, inputs in json.loads(sys.argv[1]):
        model = keras.saving.load_model(path)
        with np.load(inputs) as z:
            x = [z[f"x{i}"] for i in range(len(z.files) - 1)]
            expected = z["expected"]
        # called eagerly, as the expected outputs were: predict() runs a graph whose fused
        # kernels round differently (relative ~1e-6, 3e-5 on logits of 23 after a search)
        got = np.asarray(model(x if len(x) > 1 else x[0], training=False))
        out[name] = [float(np.max(np.abs(got - expected))), float(np.max(np.abs(expected)))]
    leaked = [m for m in sys.modules if m.split(".")[0] in ("lth_tf", "tf_keras")]
    print(json.dumps({"diffs": out, "leaked": leaked, "keras": keras.__version__}))
    """
)


def save_inputs(path: Path, x: list, expected: np.ndarray) -> str:
    """An .npz of the inputs x0, x1, ... and the outputs a loaded model must predict."""
    np.savez(path, expected=expected, **{f"x{i}": a for i, a in enumerate(x)})
    return str(path)


def load_in_fresh_process(jobs: list, cwd: Path) -> dict:
    """Load each [name, .keras path, inputs .npz] with Keras 3 alone; {"diffs": {name: [max |diff|,
    max |expected|]}, "leaked": modules of lth_tf/tf_keras imported, "keras": version}."""
    script = cwd / "load_keras3.py"
    script.write_text(LOADER)
    env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "PYTHONPATH")}
    env.update(PYTHONPATH=str(TESTS), TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    proc = subprocess.run(
        [sys.executable, str(script), json.dumps(jobs)],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
