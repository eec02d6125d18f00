"""Keras 3 models translated to tf_keras and back (lth_tf.keras_side.keras3).

Over a zoo of Keras 3 models (tests/helpers/keras3_zoo.py): the tf_keras translation
computes the same outputs (and the same output at every layer), tfmot wraps it,
a ticket (random masks applied through lth_tf's wrappers, then stripped) comes
back as the user's Keras 3 model with exact zeros, and its .keras file loads in
a fresh process that cannot import lth_tf or tf_keras. Then the refusals, each
one LthError line, and the detection by type.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from helpers import keras3_custom as custom
from helpers import keras3_zoo as zoo
from helpers.keras3_zoo import keras as k3

from lth_tf.core import sources
from lth_tf.core.errors import LthError
from lth_tf.keras_side import pruning as P
from lth_tf.keras_side.keras3 import check, configs, detect, twins
from lth_tf.keras_side.keras3.back import to_keras3
from lth_tf.keras_side.keras3.translate import ATOL, OTHER_BACKEND_ATOL, plain, translate, unfused
from lth_tf.platform.backend import keras

TESTS = Path(__file__).resolve().parent
SPARSITY = 0.6


@dataclass
class Case:
    model3: object  # the user's Keras 3 model
    x: list  # the check batch
    translation: object  # Translation
    ticket2: object  # tf_keras ticket: masked and stripped
    masks: dict  # {mask key: 0/1 array}
    kernels: dict  # {mask key: (layer name, weight short name)}
    ticket3: object  # the ticket as the user's Keras 3 model


def make_case(name: str) -> Case:
    model3 = zoo.build(name)
    zoo.calibrated(model3)
    return case_of(model3)


def case_of(model3, x: list | None = None) -> Case:
    """Translate, prune at random through lth_tf's wrappers, strip, give back as Keras 3."""
    x = x if x is not None else check.sample_batch(model3)
    t = translate(model3)
    wrapped = P.wrap(t.model)
    slots = P.pruned_variables(wrapped)
    masks = zoo.random_masks({key: tuple(kernel.shape) for key, (kernel, _) in slots.items()}, SPARSITY)
    P.set_masks(wrapped, masks)
    # unfused BatchNorm as the translation built it (tf_keras' clones forget `fused`)
    ticket2 = unfused(P.strip(wrapped))
    kernels = {key: (key.split("/")[0], kernel.name.split("/")[-1].split(":")[0]) for key, (kernel, _) in slots.items()}
    return Case(model3, x, t, ticket2, masks, kernels, to_keras3(ticket2, like=model3))


@pytest.fixture(scope="module")
def cases():
    built: dict[str, Case] = {}

    def get(name: str) -> Case:
        if name not in built:
            built[name] = make_case(name)
        return built[name]

    return get


# Slow tier: the large models, and the two whose translation check takes seconds of CPU
# (MobileNetV2's 150 layer outputs compared one by one; the LSTM's first trace).
SLOW_CHECK = {"mobilenetv2", "text_lstm"}
NAMES = [
    pytest.param(n, marks=pytest.mark.slow) if slow or n in SLOW_CHECK else n for n, (_, slow) in zoo.ZOO.items()
]


@pytest.mark.parametrize("name", NAMES)
def test_translation_computes_the_same_outputs(cases, name):
    case = cases(name)
    diff, scale = check.compare(case.model3, case.translation.model, case.x)
    assert check.agree(diff, scale, ATOL), (diff, scale)
    assert scale > 1e-2  # calibrated: a real comparison, not of numbers near zero
    # ... and so does every layer (relative to its own scale).
    assert check.first_difference(case.model3, case.translation.model, case.x, ATOL) is None
    assert isinstance(case.translation.model, keras.Model)
    # Keras 3 lists no operations among its layers (tf_keras holds them as TFOpLambda
    # layers); a nested model's layers are inlined
    names3 = [layer.name for layer in check.all_layers(case.model3) if not hasattr(layer, "layers")]
    names2 = [layer.name for layer in case.translation.model.layers if type(layer).__name__ != "TFOpLambda"]
    assert sorted(names2) == sorted(set(names3) - _nested_inputs(case.model3))


def _nested_inputs(model3) -> set[str]:
    """Input layers of the models nested in `model3` (inlining replaces them)."""
    return {
        inner.name
        for layer in model3.layers
        if hasattr(layer, "layers")
        for inner in layer.layers
        if type(inner).__name__ == "InputLayer"
    }


@pytest.mark.parametrize("name", NAMES)
def test_ticket_comes_back_as_the_users_keras3_model(cases, name):
    case = cases(name)
    ticket3 = case.ticket3
    assert detect.kind(ticket3) == "keras3"
    assert [type(layer) for layer in ticket3.layers] == [type(layer) for layer in case.model3.layers]
    assert [layer.name for layer in ticket3.layers] == [layer.name for layer in case.model3.layers]
    # every weight equals the tf_keras ticket's, bit for bit
    for layer in check.all_layers(ticket3):
        if layer.weights and not hasattr(layer, "layers"):
            for a, b in zip(layer.get_weights(), case.ticket2.get_layer(layer.name).get_weights(), strict=True):
                assert np.array_equal(a, b), layer.name
    # pruned weights exactly zero, and exactly as many as the masks prune
    pruned = total = 0
    for key, mask in case.masks.items():
        layer, weight = case.kernels[key]
        (value,) = [w.numpy() for w in _layer(ticket3, layer).weights if w.path.split("/")[-1] == weight]
        assert np.all(value[mask == 0] == 0.0), key
        # no other zeros than the initialisation's own (3 in ResNet50's 23M kernel entries)
        assert np.sum(value[mask == 1] == 0.0) <= 1e-6 * mask.size + 1, key
        pruned += int(np.sum(mask == 0))
        total += mask.size
    assert pruned / total == pytest.approx(SPARSITY, abs=0.01)
    diff, scale = check.compare(case.ticket2, ticket3, case.x)
    assert check.agree(diff, scale, ATOL)


def _layer(model3, name: str):
    """The layer called `name` at any depth of `model3`."""
    (layer,) = [layer for layer in check.all_layers(model3) if layer.name == name]
    return layer


def fresh_process_load(cases, names, tmp_path) -> dict:
    jobs = []
    for name in names:
        case = cases(name)
        path = tmp_path / f"{name}.keras"
        case.ticket3.save(path)
        jobs.append([name, str(path), zoo.save_inputs(tmp_path / f"{name}.npz", case.x, check.outputs(case.ticket2, case.x)[0])])
    return zoo.load_in_fresh_process(jobs, tmp_path)


@pytest.mark.slow  # a fresh process
@pytest.mark.parametrize("group", ["small", "large"])
def test_ticket_keras_file_loads_without_lth_tf(cases, tmp_path, group):
    names = [n for n, (_, slow) in zoo.ZOO.items() if slow == (group == "large")]
    info = fresh_process_load(cases, names, tmp_path)
    assert info["leaked"] == [] and info["keras"].startswith("3.")
    for name in names:
        diff, scale = info["diffs"][name]
        assert check.agree(diff, scale, ATOL), (name, diff, scale)


# -- files a user names (model.name = file:PATH) -------------------------------------------


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_a_keras3_file_loads_and_translates(tmp_path, suffix):
    model3 = zoo.build("custom_layers")
    path = tmp_path / f"model{suffix}"
    model3.save(path)
    assert sources.saved_by_keras3(path)
    loaded = k3.saving.load_model(path, compile=False)
    t = translate(loaded)
    x = check.sample_batch(model3)
    diff, scale = check.compare(model3, t.model, x)
    assert check.agree(diff, scale, ATOL)


def test_a_tf_keras_file_is_not_taken_for_keras3(tmp_path):
    x = keras.Input((4,))
    path = tmp_path / "model.keras"
    keras.Model(x, keras.layers.Dense(2)(x)).save(path)
    assert not sources.saved_by_keras3(path)
    assert sources.saved_keras_version(path).startswith("2.")
    assert sources.saved_keras_version(tmp_path / "missing.keras") is None


# -- detection by type ----------------------------------------------------------------------


class Exploding(k3.Model):
    """A subclassed Keras 3 model whose call fails: detection must never call it."""

    def __init__(self):
        super().__init__()
        self.dense = k3.layers.Dense(2)

    def call(self, x):
        raise AssertionError("a model was called to find out what it is")


def test_kind_by_type_never_calls_a_model():
    x2 = keras.Input((4,))
    assert detect.kind(zoo.build("mlp")) == "keras3"
    assert detect.kind(zoo.build("residual_cnn")) == "keras3"
    assert detect.kind(Exploding()) == "keras3_subclassed"
    assert detect.kind(keras.Model(x2, keras.layers.Dense(2)(x2))) == "tf_keras"
    assert detect.kind(lambda seed: None) == "factory"
    assert detect.kind(3) == "other"
    assert detect.is_keras3(Exploding()) and not detect.is_keras3(keras.Sequential())


TF_KERAS_FIRST = textwrap.dedent(
    """
    import tensorflow as tf   # before lth_tf: tf.keras is Keras 3
    x = tf.keras.Input((6,))
    model = tf.keras.Model(x, tf.keras.layers.Dense(3)(tf.keras.layers.Dense(8, activation="relu")(x)))
    from lth_tf.keras_side.keras3 import detect
    from lth_tf.keras_side.keras3.translate import translate
    t = translate(model)
    print(detect.kind(model), type(t.model).__module__.split(".")[0], t.difference)
    """
)


@pytest.mark.slow  # a fresh process
def test_a_tf_keras_model_built_before_lth_tf_translates(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(TESTS.parent))
    proc = subprocess.run(
        [sys.executable, "-c", TF_KERAS_FIRST], capture_output=True, text=True, env=env,
        cwd=tmp_path, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    kind, module, diff = proc.stdout.split()[-3:]
    assert (kind, module) == ("keras3", "tf_keras") and float(diff) <= ATOL


# -- rules with a reason ---------------------------------------------------------------------


def test_keras3_activations_tf_keras_defines_otherwise_are_substituted():
    x = k3.Input((6,))
    h = k3.layers.Dense(8, activation="hard_sigmoid", name="hs")(x)
    h = k3.layers.Dense(8, activation="hard_silu", name="hsilu")(h)
    model3 = k3.Model(x, k3.layers.Dense(3, name="out")(h))
    t = translate(model3, sample=[np.linspace(-5, 5, 24, dtype="float32").reshape(4, 6)])
    assert t.model.get_layer("hs").activation is not keras.activations.hard_sigmoid  # tf_keras' differs
    wrapped = P.wrap(t.model)  # tfmot's clone finds the substitutes again
    assert np.allclose(wrapped(np.ones((1, 6), "float32")), t.model(np.ones((1, 6), "float32")), atol=1e-6)


def test_arithmetic_on_symbolic_tensors_becomes_tf_op_layers():
    x = k3.Input((6,))
    h = k3.layers.Dense(8, name="fc")(x)
    y = 2.0 * k3.ops.relu(h + 1.0) - h / 3.0
    y = k3.ops.maximum(y, h) * h
    model3 = k3.Model(x, k3.layers.Dense(3, name="out")(y))
    t = translate(model3)
    assert t.difference == 0.0
    kinds = [type(layer).__name__ for layer in t.model.layers]
    assert kinds.count("TFOpLambda") == 7
    wrapped = P.wrap(t.model)  # tfmot clones TFOpLambda layers too
    x1 = check.sample_batch(model3)
    assert check.compare(t.model, wrapped, x1)[0] == 0.0
    back = to_keras3(P.strip(wrapped), like=model3)
    assert check.compare(model3, back, x1)[0] == 0.0


def _nested(kind: str):
    x = k3.Input((4,), name="x")
    if kind == "sequential":
        inner = k3.Sequential([k3.Input((4,)), k3.layers.Dense(4, name="in_fc")], name="inner")
    else:
        i = k3.Input((4,))
        inner = k3.Model(i, k3.layers.Dense(4, name="in_fc")(i), name="inner")
    h = inner(k3.layers.Dense(4, name="pre")(x))
    return k3.Model(x, k3.layers.Dense(2, name="out")(h), name=f"nested_{kind}")


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_a_nested_model_is_inlined_and_given_back_nested(kind):
    model3 = _nested(kind)
    t = translate(model3)
    assert [layer.name for layer in t.model.layers] == ["x", "pre", "in_fc", "out"]
    wrapped = P.wrap(t.model)  # flat: tfmot and lth_tf's checks take it
    assert P.prunable_layer_names(wrapped) == ["pre", "in_fc", "out"]
    back = to_keras3(P.strip(wrapped), like=model3)
    assert [layer.name for layer in back.layers] == ["x", "pre", "inner", "out"]
    assert check.compare(model3, back, check.sample_batch(model3))[0] == 0.0


def test_mask_operations_and_recorded_training_flags_are_left_out():
    # the config rewrite alone (the LSTM's build and output check take seconds; the slow
    # tier's test_translation_computes_the_same_outputs[text_lstm] runs them)
    model3 = zoo.build("text_lstm")
    config = configs.Translator(twins.resolve).model("Functional", plain(model3.get_config()))
    assert [layer["class_name"] for layer in config["layers"]] == ["InputLayer", "Embedding", "LSTM", "Dense"]
    assert "training" not in json.dumps(config["layers"][2]["inbound_nodes"])


class GateTwin(keras.layers.Layer):
    """A tf_keras twin the user registers for helpers.keras3_custom.Gate; `factor` 1 is right."""

    factor = 1.0

    def build(self, input_shape):
        self.g = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="g")

    def call(self, x):
        return x * keras.activations.sigmoid(self.g) * self.factor


keras.saving.register_keras_serializable(package="lth_zoo", name="Gate")(GateTwin)


def gate_model():
    x = k3.Input((5,))
    h = k3.layers.Dense(4, name="fc")(x)
    return k3.Model(x, k3.layers.Dense(2, name="out")(custom.Gate(name="gate")(h)))


def test_a_registered_tf_keras_twin_is_used(monkeypatch):
    model3 = gate_model()
    t = translate(model3)
    assert type(t.model.get_layer("gate")) is GateTwin
    back = to_keras3(t.model, like=model3)
    assert type(back.get_layer("gate")) is custom.Gate
    monkeypatch.setattr(GateTwin, "factor", 2.0)
    with pytest.raises(LthError, match=r"first at layer 'gate' \(Gate"):
        translate(model3)


def _unregistered():
    x = k3.Input((4,))
    return k3.Model(x, custom.Unregistered(name="mine")(k3.layers.Dense(3)(x)))


def _lambda():
    x = k3.Input((4,))
    return k3.Model(x, k3.layers.Lambda(lambda t: t * 2, name="double")(x))


def _operation():
    x = k3.Input((4,))
    return k3.Model(x, k3.ops.concatenate([k3.layers.Dense(3)(x), x], axis=-1))


def _keras3_only_layer():
    x = k3.Input((4,))
    return k3.Model(x, k3.layers.RMSNormalization(name="rms")(x))


def _keras3_only_activation():
    x = k3.Input((4,))
    return k3.Model(x, k3.layers.Dense(3, activation="celu", name="fc")(x))


def _subclassed():
    return Exploding()


def _nested_twice():
    i = k3.Input((4,))
    inner = k3.Model(i, k3.layers.Dense(4)(i), name="inner")
    x = k3.Input((4,))
    return k3.Model(x, inner(inner(x)))


@pytest.mark.parametrize(
    "build,message",
    [
        (_unregistered, "'mine' is the custom class Unregistered, which is not registered; decorate it"),
        (_lambda, "'double' is a Keras 3 Lambda"),
        (_operation, "the Keras 3 operation Concatenate .* use keras.layers.Concatenate()"),
        (_keras3_only_layer, "'rms' is a Keras 3 RMSNormalization, which tf_keras .* does not have"),
        (_keras3_only_activation, "activation 'celu', which tf_keras does not have"),
        (_subclassed, "is a subclassed model \\(Exploding\\); pruning clones the model from its config"),
        (_nested_twice, "the nested model 'inner' is called 2 times; pruning needs each layer once"),
    ],
)
def test_what_cannot_be_translated_is_one_line_naming_the_fix(build, message):
    with pytest.raises(LthError, match=message) as info:
        translate(build())
    assert "\n" not in str(info.value)


# -- other Keras backends ---------------------------------------------------------------------

BACKEND_BUILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import helpers.keras3_zoo as zoo

    out, names = sys.argv[1], sys.argv[2].split(",")
    for name in names:
        model = zoo.build(name)
        zoo.calibrated(model)
        x = zoo.batch(model)
        y = keras.ops.convert_to_numpy(model(x if len(x) > 1 else x[0], training=False))
        model.save(f"{out}/{name}.keras")
        np.savez(f"{out}/{name}.npz", y=np.asarray(y), **{f"x{i}": a for i, a in enumerate(x)})
    print(json.dumps({"backend": keras.backend.backend()}))
    """
)
BACKEND_LOAD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import helpers.keras3_custom

    out = {}
    for name, path, inputs in json.loads(sys.argv[1]):
        model = keras.saving.load_model(path)
        with np.load(inputs) as z:
            x = [z[f"x{i}"] for i in range(len(z.files) - 1)]
            expected = z["expected"]
        got = keras.ops.convert_to_numpy(model(x if len(x) > 1 else x[0], training=False))
        out[name] = float(np.max(np.abs(np.asarray(got) - expected)))
    print(json.dumps({"backend": keras.backend.backend(), "diffs": out}))
    """
)
BACKENDS = ("jax", "torch")
FAST_ZOO = [n for n, (_, slow) in zoo.ZOO.items() if not slow]


def backend_python(backend: str) -> str:
    """An interpreter with Keras 3 on `backend`: $LTH_TEST_<BACKEND>_PYTHON, or this one if it has it.

    Neither jax nor torch is a dependency of lth_tf: the tests run where one is at hand
    (a throwaway venv: pip install jax jaxlib keras h5py, or torch keras h5py).
    """
    python = os.environ.get(f"LTH_TEST_{backend.upper()}_PYTHON")
    if python:
        return python
    import importlib.util

    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"no {backend}: set LTH_TEST_{backend.upper()}_PYTHON to a python with {backend} and keras")
    return sys.executable


def run_backend(python: str, backend: str, code: str, *args: str, cwd: Path, pythonpath: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "PYTHONPATH")}
    env.update(KERAS_BACKEND=backend, PYTHONPATH=pythonpath, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [python, "-c", code, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=900, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["backend"] == backend
    return info


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_model_saved_under_another_backend_translates_and_its_ticket_goes_back(backend, tmp_path):
    """Configs and weights are backend-neutral: a .keras from jax/torch translates; the
    ticket's .keras loads under that backend again and predicts what tf_keras does."""
    python = backend_python(backend)
    run_backend(python, backend, BACKEND_BUILD, str(tmp_path), ",".join(FAST_ZOO), cwd=tmp_path, pythonpath=str(TESTS))
    jobs = []
    for name in FAST_ZOO:
        model3 = k3.saving.load_model(tmp_path / f"{name}.keras")
        with np.load(tmp_path / f"{name}.npz") as z:
            x = [z[f"x{i}"] for i in range(len(z.files) - 1)]
            y_backend = z["y"]
        case = case_of(model3, x)
        # the translation equals Keras 3 on TensorFlow (1e-5); the other backend's own
        # kernels round differently, by up to OTHER_BACKEND_ATOL
        diff, scale = check.compare(model3, case.translation.model, x)
        assert check.agree(diff, scale, ATOL), (name, diff)
        assert np.max(np.abs(check.outputs(case.translation.model, x)[0] - y_backend)) <= OTHER_BACKEND_ATOL, name
        path, inputs = tmp_path / f"{name}-ticket.keras", tmp_path / f"{name}-ticket.npz"
        case.ticket3.save(path)
        np.savez(inputs, expected=check.outputs(case.ticket2, x)[0], **{f"x{i}": a for i, a in enumerate(x)})
        jobs.append([name, str(path), str(inputs)])
    info = run_backend(python, backend, BACKEND_LOAD, json.dumps(jobs), cwd=tmp_path, pythonpath=str(TESTS))
    assert all(d <= OTHER_BACKEND_ATOL for d in info["diffs"].values()), info["diffs"]


IN_PROCESS = textwrap.dedent(
    """
    import json
    import numpy as np
    from lth_tf.platform.backend import keras3
    k3 = keras3()
    import helpers.keras3_zoo as zoo
    from lth_tf.core.errors import LthError
    from lth_tf.keras_side.keras3 import check
    from lth_tf.keras_side.keras3.back import to_keras3
    from lth_tf.keras_side.keras3.translate import translate

    out = {"backend": k3.backend.backend(), "diffs": {}}
    for name in ("mlp", "residual_cnn", "text_lstm", "mobilenetv2"):
        model = zoo.build(name)
        zoo.calibrated(model)
        t = translate(model)
        back = to_keras3(t.model, like=model)
        x = check.sample_batch(model)
        out["diffs"][name] = [check.compare(model, t.model, x)[0], check.compare(t.model, back, x)[0]]
        out["notes"] = t.notes
    try:
        translate(zoo.build("custom_layers"))
    except LthError as e:
        out["custom"] = str(e)
    print(json.dumps(out))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_model_on_another_backend_translates_in_process(backend, tmp_path):
    """KERAS_BACKEND=jax/torch in lth_tf's own process (the interpreter needs TensorFlow too)."""
    python = backend_python(backend)
    probe = subprocess.run([python, "-c", "import tensorflow, tf_keras"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"{python} has {backend} but not TensorFlow and tf_keras")
    info = run_backend(
        python, backend, IN_PROCESS, cwd=tmp_path, pythonpath=os.pathsep.join([str(TESTS), str(TESTS.parent)])
    )
    for name, (there, back) in info["diffs"].items():
        assert there <= OTHER_BACKEND_ATOL and back <= OTHER_BACKEND_ATOL, name
    assert f"run keras.ops on the {backend} backend" in info["custom"]
    assert any(backend in note for note in info["notes"])


# -- the report: TicketSearch takes the Keras 3 model it used to call as a factory ----------


@pytest.mark.slow  # a whole search
def test_ticket_search_takes_a_keras3_model_and_gives_a_keras3_ticket(tmp_path):
    """On main before phase 2: 'factory <Functional ...> raised ValueError ...; fix the factory'."""
    import lth_tf

    model3 = zoo.build("mlp")
    rng = np.random.default_rng(0)
    data = [(rng.standard_normal((64, 12)).astype("float32"), rng.integers(0, zoo.CLASSES, 64)) for _ in range(3)]
    search = lth_tf.TicketSearch(model3, directory=tmp_path, rounds=1, epochs=1, batch_size=32)
    search.fit(data[0], validation_data=data[1], test_data=data[2], export=False)
    ticket3 = search.ticket_model(round=1)
    assert detect.kind(ticket3) == "keras3"
    assert [layer.name for layer in ticket3.layers] == [layer.name for layer in model3.layers]
