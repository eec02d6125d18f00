"""lth_tf.platform.runtime: the settings in force, the oneDNN default rule, the new config fields.

The oneDNN rule is decided when TensorFlow loads, so each case runs in a fresh
process that prints `Platform.single().settings()` (what `run_started.runtime` holds).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lth_tf.core import config as C
from lth_tf.core.errors import LthError

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("import json; from lth_tf.platform.platform import Platform; "
            "print(json.dumps(Platform.single().settings()))")


def settings_in_fresh_process(onednn: str | None, code: str = SETTINGS) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if onednn is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = onednn
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # TensorFlow starts in a fresh process
def test_onednn_is_on_by_default_and_reported():
    s = settings_in_fresh_process(None)
    assert s["onednn"] is True and s["onednn_source"] == "lth_tf"
    assert s["TF_ENABLE_ONEDNN_OPTS"] == "1"


@pytest.mark.slow  # TensorFlow starts in a fresh process
def test_the_users_onednn_choice_wins():
    s = settings_in_fresh_process("0")
    assert s["onednn"] is False and s["onednn_source"] == "environment"


@pytest.mark.slow  # TensorFlow starts in a fresh process
def test_a_caller_that_knows_the_data_chooses_before_tensorflow_loads():
    from lth_tf.platform import onednn

    assert (onednn.default_for(graph=False), onednn.default_for(graph=True)) == ("1", "0")
    code = "from lth_tf.platform import onednn; onednn.choose(graph=True); " + SETTINGS
    s = settings_in_fresh_process(None, code)
    assert s["onednn"] is False and s["onednn_source"] == "lth_tf"
    assert s["TF_ENABLE_ONEDNN_OPTS"] == "0"
    # the user's value still wins over the graph rule
    s = settings_in_fresh_process("1", code)
    assert s["onednn"] is True and s["onednn_source"] == "environment"


def test_onednn_module_stays_free_of_tensorflow():
    code = "import sys; from lth_tf.platform import onednn; onednn.choose(); print(int('tensorflow' in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


@pytest.mark.slow  # TensorFlow starts in a fresh process
def test_tensorflow_imported_first_keeps_its_own_rule():
    code = "import os; os.environ['TF_USE_LEGACY_KERAS'] = '1'; import tensorflow; " + SETTINGS
    s = settings_in_fresh_process(None, code)
    assert s["onednn_source"] == "tensorflow" and s["TF_ENABLE_ONEDNN_OPTS"] is None
    # TensorFlow's own rule: on only with AVX512_VNNI/AVX512_BF16/AVX_VNNI/AMX (x86 Linux).
    fast = {"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16"}
    if not fast & set(s["cpu"]["flags"]):
        assert s["onednn"] is False


# run_started.runtime: these keys, in this order (readers of old runs rely on them)
RUNTIME_KEYS = ["onednn", "onednn_source", "TF_ENABLE_ONEDNN_OPTS", "jit_compile", "precision", "keras_policy",
                "intra_op_threads", "inter_op_threads", "cpu_count", "tensorflow", "tf_keras", "cpu",
                "strategy", "replicas", "workers", "chief", "chosen"]


def test_settings_lists_what_a_run_records():
    from lth_tf.platform.platform import Platform

    t = C.Train(jit_compile=True, precision="mixed_bfloat16")
    s = Platform.from_settings(t).settings()
    assert list(s) == RUNTIME_KEYS
    assert (s["strategy"], s["replicas"], s["workers"], s["chief"]) == ("default", 1, 1, True)
    assert s["jit_compile"] is True and s["precision"] == "mixed_bfloat16"
    assert s["keras_policy"] == "float32"  # nobody applied the precision in this process
    assert isinstance(s["onednn"], bool)
    for key in ("intra_op_threads", "inter_op_threads", "cpu_count"):
        assert isinstance(s[key], int) and s[key] >= 0
    assert s["tensorflow"] and s["tf_keras"]
    assert set(s["cpu"]) == {"model", "flags", "cores"}
    # what was chosen and why: the config's values here ("user"), the rules for the rest
    assert s["chosen"]["precision"] == {"value": "mixed_bfloat16", "source": "user",
                                        "reason": "train.precision in the config"}
    assert s["chosen"]["jit_compile"]["value"] is True
    assert s["chosen"]["onednn"]["value"] is s["onednn"]
    json.dumps(s)  # JSON-ready for the run record


def test_apply_precision_sets_the_policy_for_models_built_next():
    from lth_tf.platform import runtime
    from lth_tf.platform.backend import keras

    try:
        runtime.apply_precision("mixed_bfloat16")
        assert keras.layers.Dense(2).compute_dtype == "bfloat16"
        runtime.apply_precision("float32")
        assert keras.layers.Dense(2).compute_dtype == "float32"
        with pytest.raises(ValueError):
            runtime.apply_precision("float16")
    finally:
        keras.mixed_precision.set_global_policy("float32")


# -- the config fields ------------------------------------------------------------------------
def test_speed_fields_default_to_auto_and_leave_the_hash_alone():
    t = C.Train()
    assert (t.jit_compile, t.precision) == ("auto", "auto")
    assert "jit_compile" not in C.Experiment().canonical()
    exp = C.resolve("smoke", overrides=["train.precision=mixed_bfloat16", "train.jit_compile=true"])
    assert exp.hash() != C.resolve("smoke").hash()
    assert "train.precision=" in exp.canonical()


@pytest.mark.parametrize(
    "overrides, words",
    [
        (["train.precision=float16"], "train.precision"),
        (["train.jit_compile=true", "data.name=synthetic_graph", "model.name=gcn"], "jit_compile"),
        (["train.precision=mixed_bfloat16", "data.name=synthetic_graph", "model.name=gcn"], "train.precision"),
    ],
)
def test_bad_speed_settings_are_refused(overrides, words):
    with pytest.raises(LthError, match=words):
        C.validate(C.resolve("smoke", overrides=overrides))
