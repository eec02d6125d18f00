"""Keras 3 models through the whole search: TicketSearch, file:, py:, the CLI, --format keras.

For every model of the Keras 3 zoo (tests/helpers/keras3_zoo.py) a tiny 2-round search
(64 examples of random data, one epoch) through `lth_tf.TicketSearch`: the ticket
comes back as the user's Keras 3 model with exactly the masks' zeros, and its
`.keras` export loads in a fresh process that cannot import lth_tf or tf_keras and
predicts what the tf_keras ticket predicts (atol 1e-5; softmax of its logits for a
softmax head). Then the other ways in (a `file:` model Keras 3 saved, through the
CLI; a `py:` factory returning Keras 3; a factory; an unbuilt Sequential; `tf.keras`
used before lth_tf), the other ways out (`lth-tf export --format keras` and its
refusals) and BatchNorm kept unfused through lth_tf's clones.
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
from helpers import keras3_zoo as zoo
from helpers.keras3_zoo import keras as k3

import lth_tf
from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.keras_side import models
from lth_tf.keras_side import pruning as P
from lth_tf.keras_side.keras3 import back, check, detect
from lth_tf.keras_side.keras3.translate import ATOL, translate
from lth_tf.platform.backend import keras

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = 64
ROUNDS = 2
# The zoo models whose search takes minutes here (tfmot's wrappers make tracing slow).
SEARCH_SLOW = {"mobilenetv2", "resnet50", "efficientnetb0", "mobilenetv3small", "transfer_mobilenetv2"}
NAMES = list(zoo.ZOO)
CLI = [sys.executable, "-m", "lth_tf"]


def random_data(model3, seed: int = 0):
    """Three splits of EXAMPLES random inputs for `model3` (zoo.batch) and random labels."""
    rng = np.random.default_rng(seed)
    return [
        (zoo.batch(model3, EXAMPLES, seed=seed + i)[0], rng.integers(0, zoo.CLASSES, EXAMPLES))
        for i in range(3)
    ]


def tiny_search(model, directory: Path, data, rounds: int = ROUNDS, **settings):
    search = lth_tf.TicketSearch(model, directory=directory, rounds=rounds, epochs=1, batch_size=32, **settings)
    summary = search.fit(data[0], validation_data=data[1], test_data=data[2], export=False)
    return search, summary


def expected_outputs(model3, ticket2, x: list) -> np.ndarray:
    """What the Keras 3 ticket must predict: the tf_keras ticket's logits, or their softmax."""
    (y,) = check.outputs(ticket2, x)
    if back.ends_in_softmax(model3):
        e = np.exp(y - y.max(axis=-1, keepdims=True))
        y = e / e.sum(axis=-1, keepdims=True)
    return y


@dataclass
class Searched:
    model3: object
    search: object  # TicketSearch
    summary: dict
    x: list  # inputs to compare predictions on
    ticket2: object  # the tf_keras ticket of the last round (stripped)
    slots: dict  # {mask key: (kernel variable, mask variable)} of that round's wrapped model
    ticket3: object  # search.ticket_model(round=ROUNDS)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    done: dict[str, Searched] = {}

    def get(name: str) -> Searched:
        if name not in done:
            model3 = zoo.calibrated(zoo.build(name))
            data = random_data(model3)
            search, summary = tiny_search(model3, tmp_path_factory.mktemp(name), data)
            wrapped = search.search.model_for_round(ROUNDS)
            slots = P.pruned_variables(wrapped)
            done[name] = Searched(
                model3, search, summary, [data[2][0][:16]], P.strip(wrapped), slots, search.ticket_model(round=ROUNDS)
            )
        return done[name]

    return get


@pytest.mark.slow  # a whole search per zoo model
@pytest.mark.parametrize("name", NAMES)
def test_a_tiny_search_gives_the_ticket_back_in_keras3_with_exact_zeros(searched, name):
    s = searched(name)
    assert [r["round"] for r in s.summary["rounds"]] == list(range(ROUNDS + 1))
    ticket3 = s.ticket3
    assert detect.kind(ticket3) == "keras3"
    assert [(type(a), a.name) for a in ticket3.layers] == [(type(b), b.name) for b in s.model3.layers]
    layers3 = {layer.name: layer for layer in check.all_layers(ticket3)}
    pruned = total = 0
    for key, (kernel, mask) in s.slots.items():
        mask = mask.numpy()
        weight = kernel.name.split("/")[-1].split(":")[0]
        (value,) = [w.numpy() for w in layers3[key.split("/")[0]].weights if w.path.split("/")[-1] == weight]
        np.testing.assert_array_equal(value == 0, kernel.numpy() == 0, err_msg=key)  # the tf_keras ticket's zeros
        assert np.all(value[mask == 0] == 0.0), key
        pruned += int(np.sum(mask == 0))
        total += mask.size
    assert pruned / total == pytest.approx(s.summary["rounds"][ROUNDS]["sparsity"], abs=1e-12)
    assert 0.3 < pruned / total < 0.4  # two rounds of prune.rate 0.2
    # eager calls on both sides (the tf_keras ticket's are eager too): predict()'s graph
    # rounds differently, by up to ~1e-6 of the outputs' scale
    got = check.outputs(ticket3, s.x)[0]
    want = expected_outputs(s.model3, s.ticket2, s.x)
    assert check.agree(float(np.max(np.abs(got - want))), float(np.max(np.abs(want))), ATOL)
    scale = max(1.0, float(np.max(np.abs(want))))
    assert np.max(np.abs(np.asarray(ticket3.predict(s.x[0], verbose=0)) - want)) <= 1e-5 * scale


@pytest.mark.slow  # searches, then a fresh process
@pytest.mark.parametrize("group", ["small", "large"])
def test_the_keras_export_loads_without_lth_tf_and_predicts_the_tf_keras_ticket(searched, tmp_path, group):
    names = [n for n in zoo.ZOO if (n in SEARCH_SLOW) == (group == "large")]
    jobs = []
    for name in names:
        s = searched(name)
        out = s.search.export(tmp_path / name, round=ROUNDS, format="keras")
        assert sorted(p.name for p in out.iterdir()) == ["lth-tf-export.json", "model.keras"]
        marker = json.loads((out / "lth-tf-export.json").read_text())
        assert marker["format"] == "Keras" and marker["written_by"] == "lth-tf"
        assert list(marker["outputs"]) == ["probabilities" if back.ends_in_softmax(s.model3) else "logits"]
        want = expected_outputs(s.model3, s.ticket2, s.x)
        jobs.append([name, str(out / "model.keras"), zoo.save_inputs(tmp_path / f"{name}.npz", s.x, want)])
    info = zoo.load_in_fresh_process(jobs, tmp_path)
    assert info["leaked"] == [] and info["keras"].startswith("3.")
    for name in names:
        diff, scale = info["diffs"][name]
        assert check.agree(diff, scale, ATOL), (name, diff, scale)


@pytest.mark.slow  # a whole search
def test_the_run_directory_holds_the_users_keras3_theta0(searched):
    """model.keras is the user's Keras 3 model at theta0, and the CLI's file: source reads it back."""
    s = searched("residual_cnn")
    path = s.search.run_dir / "model.keras"
    loaded = k3.saving.load_model(path, compile=False)
    assert detect.kind(loaded) == "keras3" and loaded.layers[-1].activation.__name__ == "softmax"
    for a, b in zip(loaded.get_weights(), s.model3.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # calibrated weights as given: theta0
    built = models.source(C.Model(name=f"file:{path}"))((32, 32, 3), zoo.CLASSES, 0)
    assert detect.kind(built.keras3) == "keras3"
    assert any(note.startswith("translated from Keras 3") for note in built.notes)
    assert any("softmax" in note for note in built.notes)
    for a, b in zip(built.model.get_weights(), translate(s.model3).model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the same tf_keras theta0 as the search trained from


# -- the CLI on Keras 3 runs ------------------------------------------------------------------


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), **(env or {})}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, env=full, timeout=900, check=False)


@pytest.mark.slow  # a search, then the CLI in subprocesses
def test_lth_tf_export_format_keras_on_an_api_run(searched, tmp_path):
    s = searched("residual_cnn")
    proc = run_cli(
        "export", str(s.search.run_dir), "--round", str(ROUNDS), "--format", "keras", "--out", str(tmp_path / "t"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == str(tmp_path / "t")
    assert "pruned weights exactly 0" in proc.stderr and "keras.saving.load_model" in proc.stderr
    loaded = k3.saving.load_model(tmp_path / "t" / "model.keras")
    np.testing.assert_array_equal(loaded.predict(s.x[0], verbose=0), s.ticket3.predict(s.x[0], verbose=0))
    # the other formats still serve the same run
    dense = run_cli("export", str(s.search.run_dir), "--round", str(ROUNDS), "--out", str(tmp_path / "d"), cwd=tmp_path)
    assert dense.returncode == 0, dense.stderr[-3000:]


@pytest.mark.slow  # a search, then the CLI in subprocesses
def test_format_keras_refuses_a_keras_suffix_and_a_tf_keras_run(searched, tmp_path):
    s = searched("mlp")
    proc = run_cli("export", str(s.search.run_dir), "--format", "keras", "--out", str(tmp_path / "t.keras"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "writes a folder holding model.keras" in proc.stderr and not (tmp_path / "t.keras").exists()
    # a run of lth_tf's own (tf_keras) model: refused before TensorFlow loads
    from lth_tf.storage.store import RunStore

    exp = C.resolve(preset="smoke")
    RunStore(tmp_path / "smoke").claim(exp.to_toml(), exp.hash())
    proc = run_cli("export", str(tmp_path / "smoke"), "--format", "keras", "--out", str(tmp_path / "t"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "'tiny_cnn' is a tf_keras model; use --format dense" in proc.stderr


def small_keras3_cnn(shape=(16, 16, 3), classes=4):
    """What a user would save: BatchNorm, a residual Add, Dropout, a softmax head."""
    x = k3.Input(shape, name="image")
    h = k3.layers.Conv2D(8, 3, padding="same", name="conv1")(x)
    h = k3.layers.BatchNormalization(name="bn1")(h)
    h = k3.layers.ReLU(name="relu1")(h)
    r = k3.layers.SeparableConv2D(8, 3, padding="same", name="sep")(h)
    h = k3.layers.Add(name="add")([h, r])
    h = k3.layers.GlobalAveragePooling2D(name="gap")(h)
    h = k3.layers.Dropout(0.2, name="drop")(h)
    return k3.Model(x, k3.layers.Dense(classes, activation="softmax", name="head")(h), name="user_cnn")


@pytest.mark.slow  # the CLI in subprocesses
def test_a_cli_run_of_a_keras3_file(tmp_path):
    """lth-tf run with model.name = file:MODEL.keras (saved by Keras 3), then report and both exports."""
    k3.utils.set_random_seed(0)
    small_keras3_cnn().save(tmp_path / "user_cnn.keras")
    run = run_cli(
        "run", "--preset", "smoke", "--set", f"model.name=file:{tmp_path / 'user_cnn.keras'}",
        "--set", "train.epochs=1", "--set", "prune.controls=", "--rounds", "1", "--out", str(tmp_path / "runs"),
        "--quiet", cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    run_dir = Path(run.stdout.strip().splitlines()[-1])
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    notes = next(e for e in events if e["event"] == "run_started")["model_notes"]
    assert notes[0].startswith("translated from Keras 3") and "softmax" in notes[-1]
    assert run_cli("report", str(run_dir)).returncode == 0
    k = run_cli("export", str(run_dir), "--format", "keras", "--round", "1", "--out", str(tmp_path / "k"))
    assert k.returncode == 0, k.stderr[-3000:]
    d = run_cli("export", str(run_dir), "--round", "1", "--out", str(tmp_path / "d"))
    assert d.returncode == 0, d.stderr[-3000:]
    marker = json.loads((tmp_path / "k" / "lth-tf-export.json").read_text())
    mean, std = (np.asarray(marker["normalization"][key], "float32") for key in ("mean", "std"))
    # the Keras 3 ticket and the dense SavedModel (its own normalisation inside) agree
    images = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3)).astype("uint8")
    model3 = k3.saving.load_model(tmp_path / "k" / "model.keras")
    got = model3.predict((images.astype("float32") - mean) / std, verbose=0)
    from lth_tf.platform.backend import tf

    served = tf.saved_model.load(str(tmp_path / "d")).signatures["serving_default"]
    want = served(image=tf.constant(images))["probabilities"].numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


# -- factories ---------------------------------------------------------------------------------

FACTORY = textwrap.dedent(
    """
    import keras

    def build(input_shape, num_classes, seed):
        # unnamed layers: Keras 3 numbers them per session (dense, dense_1, ...)
        return keras.Sequential([
            keras.Input(input_shape),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(num_classes),
        ])
    """
)


def test_a_py_factory_returning_keras3_is_translated_on_every_call(tmp_path, monkeypatch):
    (tmp_path / "k3factory.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)
    source = models.source(C.Model(name="py:k3factory:build"))
    first, again, other = source((12,), 3, 0), source((12,), 3, 0), source((12,), 3, 1)
    assert first.model is not again.model and first.keras3 is not again.keras3
    assert detect.kind(first.keras3) == "keras3" and detect.kind(first.model) == "tf_keras"
    assert [layer.name for layer in first.model.layers] == [layer.name for layer in again.model.layers]
    for a, b in zip(first.model.get_weights(), again.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # seeded: the same seed, the same theta0
    assert any(not np.array_equal(a, b) for a, b in zip(first.model.get_weights(), other.model.get_weights()))
    assert first.notes[0].startswith("translated from Keras 3")


@pytest.mark.slow  # two whole searches
def test_ticket_search_with_a_keras3_factory_and_an_unbuilt_sequential(tmp_path):
    def factory(seed):
        return k3.Sequential([k3.Input((12,)), k3.layers.Dense(16, activation="relu"), k3.layers.Dense(zoo.CLASSES)])

    unbuilt = k3.Sequential([k3.layers.Dense(16, activation="relu", name="fc"), k3.layers.Dense(zoo.CLASSES, name="out")])
    data = random_data(zoo.build("mlp"))
    for i, model in enumerate((factory, unbuilt)):
        search, _ = tiny_search(model, tmp_path / str(i), data, rounds=1)
        ticket3 = search.ticket_model(round=1)
        assert detect.kind(ticket3) == "keras3" and ticket3.built
        kernels = [layer.kernel.numpy() for layer in ticket3.layers]
        zeros = sum(int(np.sum(k == 0)) for k in kernels) / sum(k.size for k in kernels)
        assert zeros == pytest.approx(search.summary()["rounds"][1]["sparsity"])  # round 1, about 0.2
    assert not unbuilt.built  # the user's object untouched


def test_a_compiled_keras3_model_gives_its_optimizer_settings(tmp_path):
    model3 = zoo.build("mlp")
    model3.compile(optimizer=k3.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy")
    t = lth_tf.TicketSearch(model3, directory=tmp_path).exp.train
    assert (t.optimizer, t.learning_rate, t.momentum) == ("sgd", 0.05, 0.9)


class Subclassed(k3.Model):
    def __init__(self):
        super().__init__()
        self.dense = k3.layers.Dense(3)

    def call(self, x):
        return self.dense(x)


def test_a_subclassed_keras3_model_gets_the_one_refusal(tmp_path):
    class Mine(keras.Model):  # tf_keras
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    for model in (Subclassed(), Mine()):
        with pytest.raises(LthError, match=r"is a subclassed model \(\w+\); pruning clones the model from its config"):
            lth_tf.TicketSearch(model, directory=tmp_path).fit(*random_data(zoo.build("mlp")))


# -- BatchNorm unfused through every clone ------------------------------------------------------


def test_batchnorm_stays_unfused_through_lth_tfs_clones():
    """The translation builds BatchNorm unfused (Keras 3's ops); wrap, strip, copies, re-initialised
    models and narrowing keep it, so the ticket computes bit for bit what Keras 3 computes."""
    from lth_tf.keras_side.models import user
    from lth_tf.keras_side.narrow import narrow

    model3 = zoo.calibrated(zoo.build("residual_cnn"))
    t = translate(model3)
    wrapped = P.wrap(t.model)
    copies = {
        "translation": t.model,
        "strip": P.strip(wrapped),
        "from_keras": models.from_keras(model3)((32, 32, 3), zoo.CLASSES, 0).model,
        "reinitialised": user.reinitialised(t.model, 1),
        "narrow": narrow(wrapped),
    }
    for what, model in copies.items():
        bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
        assert bns and all(bn.fused is False for bn in bns), what
    x = check.sample_batch(model3)
    y3 = check.outputs(model3, x)[0]
    assert np.array_equal(check.outputs(copies["strip"], x)[0], check.outputs(t.model, x)[0])
    assert np.max(np.abs(check.outputs(copies["strip"], x)[0] - y3)) <= 1e-6
    # a plain tf_keras BatchNorm (fused by default) is cloned as before
    x2 = keras.Input((8, 8, 3))
    plain = keras.Model(x2, keras.layers.BatchNormalization(name="bn")(keras.layers.Conv2D(4, 3)(x2)))
    assert P.strip(P.wrap(plain)).get_layer("bn").fused is True


# -- tf.keras used before lth_tf (so tf.keras is Keras 3) ----------------------------------------

TF_KERAS_FIRST = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf   # used before lth_tf: tf.keras is Keras 3
    x = tf.keras.Input((12,))
    h = tf.keras.layers.Dense(16, activation="relu", name="fc")(x)
    model = tf.keras.Model(x, tf.keras.layers.Dense(3, name="out")(h))

    import lth_tf
    from lth_tf.core.config import Model
    from lth_tf.core.errors import LthError
    from lth_tf.keras_side import models
    from lth_tf.keras_side.keras3 import detect

    rng = np.random.default_rng(0)
    data = [(rng.standard_normal((64, 12)).astype("float32"), rng.integers(0, 3, 64)) for _ in range(3)]
    search = lth_tf.TicketSearch(model, directory=sys.argv[1], rounds=1, epochs=1, batch_size=32)
    search.fit(data[0], validation_data=data[1], test_data=data[2], export=False)
    out = {"kind": detect.kind(search.ticket_model(round=1))}
    try:
        models.build(Model(name="gcn"), (8,), 3, 0)
    except LthError as e:
        out["gcn"] = str(e)
    print(json.dumps(out))
    """
)


@pytest.mark.slow  # a fresh process with a search
def test_tf_keras_used_before_lth_tf(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", TF_KERAS_FIRST, str(tmp_path)], capture_output=True, text=True, env=env,
        cwd=tmp_path, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["kind"] == "keras3"
    assert "graph models need Spektral on tf_keras, but tf.keras was already Keras 3" in out["gcn"]
    assert "\n" not in out["gcn"]


@pytest.mark.slow  # a whole search
def test_lth_tui_attaches_to_a_keras3_api_run(searched):
    import asyncio

    from tui.app import LthApp
    from tui.screens import RunScreen
    from tui.widgets import RoundsTable

    s = searched("mlp")

    async def body():
        app = LthApp(attach=s.search.run_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            assert isinstance(screen, RunScreen) and screen.mode == "attach"
            for _ in range(100):
                await pilot.pause(0.1)
                if screen.query_one(RoundsTable).row_count == ROUNDS + 1:
                    break
            assert screen.query_one(RoundsTable).row_count == ROUNDS + 1
            await pilot.press("q")

    asyncio.run(body())
