"""Tests for lth_tf/core/config/: presets, TOML round trip, hash stability, overrides, validation."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
import tomllib
from dataclasses import field, fields, replace
from typing import Any, get_type_hints

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lth_tf.core import config as C
from lth_tf.core.errors import LthError

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # max_examples: the Hypothesis profile (tests/conftest.py)
REQUIRED_PRESETS = {"smoke", "cora-gcn", "cifar10-resnet18", "cifar10-resnet18-cpu"}


def one_line_error(fn, *args, **kwargs) -> str:
    """Call fn, expect LthError with a one-line message; return the message."""
    with pytest.raises(LthError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert msg and "\n" not in msg and "\r" not in msg, repr(msg)
    return msg


def roundtrip(exp: C.Experiment) -> C.Experiment:
    return C.from_dict(tomllib.loads(exp.to_toml()))


# -- presets -------------------------------------------------------------------------------


def test_required_presets_exist():
    assert REQUIRED_PRESETS <= set(C.preset_names())


@pytest.mark.parametrize("name", C.preset_names())
def test_preset_loads_validates_and_round_trips(name):
    exp = C.resolve(preset=name)
    assert exp.preset == name
    assert C.validate(exp) is exp
    desc = C.preset_description(name)
    assert desc and "\n" not in desc
    assert exp.run_name().startswith(f"{name}-") and len(exp.run_name()) == len(name) + 11
    back = roundtrip(exp)
    assert back == exp and back.hash() == exp.hash()
    assert C.validate(back) == exp


def test_preset_contents_match_the_contract():
    smoke = C.resolve(preset="smoke")
    assert smoke.data.name.startswith("synthetic")  # needs no data
    cora = C.resolve(preset="cora-gcn")
    assert (cora.model.name, cora.data.name, cora.prune.scope, cora.prune.rewind) == (
        "gcn",
        "cora",
        "global",
        "init",
    )
    assert cora.prune.rate == 0.2 and cora.is_graph
    paper = C.resolve(preset="cifar10-resnet18")
    assert (paper.model.name, paper.data.name, paper.prune.rounds, paper.prune.rate) == (
        "resnet18",
        "cifar10",
        7,
        0.2,
    )
    cpu = C.resolve(preset="cifar10-resnet18-cpu")
    assert cpu.model.name == "resnet18" and cpu.model.width < paper.model.width
    assert cpu.train.epochs < paper.train.epochs


def test_no_tensorflow_imported():
    # In a fresh interpreter: other test modules import TF into this one.
    code = "import sys, lth_tf.core.config; print('tensorflow' in sys.modules or 'tf_keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- TOML round trip ----------------------------------------------------------------------


def _value_strategy(typ: Any) -> st.SearchStrategy:
    if typ is bool:
        return st.booleans()
    if str(typ) == "bool | str":  # true | false | auto (train.jit_compile)
        return st.one_of(st.booleans(), st.just("auto"))
    if typ is int:
        return st.integers(-(2**40), 2**40)
    if typ is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if typ is str:
        return st.text(max_size=12)
    if str(typ).startswith("tuple"):
        return st.lists(st.text(max_size=6), max_size=3)
    if str(typ).startswith("dict"):
        return st.dictionaries(
            st.text(max_size=6), st.floats(allow_nan=False, allow_infinity=False), max_size=3
        )
    raise AssertionError(f"no strategy for {typ}")


def _typed_keys() -> list[tuple[str, Any]]:
    out = [("seed", int)]
    for section, cls in C.SECTIONS.items():
        out += [(f"{section}.{k}", t) for k, t in get_type_hints(cls).items()]
    return out


@st.composite
def experiments(draw):
    """Any Experiment the setters accept (not necessarily valid), with a random subset set."""
    exp = C.Experiment()
    for key, typ in draw(st.lists(st.sampled_from(_typed_keys()), unique=True, max_size=12)):
        exp = C.set_value(exp, key, draw(_value_strategy(typ)))
    if draw(st.booleans()):
        exp = replace(exp, preset=draw(st.text(max_size=10)))
    return exp


@FAST
@given(experiments())
def test_toml_round_trip(exp):
    back = roundtrip(exp)
    assert back == exp
    assert back.canonical() == exp.canonical() and back.hash() == exp.hash()


def test_toml_round_trip_example_with_layer_rates_and_tuples():
    exp = C.resolve(
        preset="cora-gcn",
        overrides=[
            "prune.layer_rates=output:0.1, gcn_conv:0.05",
            "prune.exclude=embed,skip",
            "prune.controls=random_reinit,random_mask",
            "prune.rewind=step:500",
            "distill.enabled=true",
            "seed=3",
        ],
    )
    text = exp.to_toml()
    raw = tomllib.loads(text)
    assert raw["prune"]["layer_rates"] == {"output": 0.1, "gcn_conv": 0.05}
    assert raw["prune"]["exclude"] == ["embed", "skip"] and raw["preset"] == "cora-gcn"
    back = C.from_dict(raw)
    assert back == exp
    assert back.prune.exclude == ("embed", "skip") and isinstance(back.prune.controls, tuple)


def test_toml_strings_beyond_the_bmp_and_control_characters():
    odd = ("emoji \U0001f600", "del \x7f", 'quote " backslash \\', "tab\tnewline\n", "nul \x00")
    exp = C.set_value(C.Experiment(), "prune.exclude", list(odd))
    exp = C.set_value(exp, "prune.layer_rates", {k: 0.1 for k in odd})
    assert roundtrip(exp) == exp


def test_config_file_layers_over_preset_and_under_overrides(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('[train]\nepochs = 7\n\n[prune]\nrate = 0.3\nexclude = ["output"]\n')
    exp = C.resolve(preset="smoke", config_file=path, overrides=["prune.rate=0.4"])
    assert exp.train.epochs == 7 and exp.prune.rate == 0.4 and exp.prune.exclude == ("output",)
    assert exp.model.name == "tiny_cnn"  # from the preset
    # the written config re-runs as --config to the same experiment and hash
    again = tmp_path / "config.toml"
    again.write_text(exp.to_toml())
    assert C.resolve(config_file=again) == exp
    assert C.resolve(config_file=again).hash() == exp.hash()


# -- hash -------------------------------------------------------------------------------------


def test_defaults_have_an_empty_canonical_string():
    assert C.Experiment().canonical() == ""
    assert C.Experiment().hash() == hashlib.md5(b"").hexdigest()


def test_canonical_form_is_pinned():
    # Changing this format renames every existing run directory: do it only on purpose.
    exp = C.resolve(overrides=["seed=3", "prune.rate=0.5", "prune.layer_rates=b:0.2,a:0.1"])
    assert exp.canonical() == 'prune.layer_rates={"a": 0.1, "b": 0.2}\nprune.rate=0.5\nseed=3'


def test_same_config_same_hash():
    a = C.resolve(preset="cora-gcn", overrides=["prune.layer_rates=a:0.1,b:0.2"])
    b = C.resolve(preset="cora-gcn", overrides=["prune.layer_rates=b:0.2,a:0.1"])
    assert a == b and a.hash() == b.hash() and a.run_name() == b.run_name()
    # a value equal to the default is the same as leaving it out
    c = C.resolve(preset="cora-gcn", overrides=["train.momentum=0.9", "seed=0"])
    assert c.hash() == C.resolve(preset="cora-gcn").hash()


def test_preset_label_is_not_hashed():
    exp = C.resolve(preset="cora-gcn")
    assert replace(exp, preset=None).hash() == exp.hash()
    assert replace(exp, preset="renamed").hash() == exp.hash()
    assert replace(exp, preset="renamed").run_name() != exp.run_name()  # label still names the dir


def _different(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 + 0.5
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, tuple):
        return (*value, "x")
    if isinstance(value, dict):
        return {**value, "x": 0.25}
    raise AssertionError(value)


@pytest.mark.parametrize("base", [None, "cifar10-resnet18"])
@pytest.mark.parametrize("key", C.all_keys())
def test_any_changed_value_changes_the_hash(key, base):
    exp = C.resolve(preset=base) if base else C.Experiment()
    section, _, name = key.partition(".")
    old = getattr(getattr(exp, section), name) if name else getattr(exp, section)
    changed = C.set_value(exp, key, True if old == "auto" and key == "train.jit_compile" else _different(old))
    assert changed != exp
    assert changed.hash() != exp.hash()


@FAST
@given(experiments(), experiments())
def test_hash_equal_iff_configs_equal(a, b):
    a, b = replace(a, preset=None), replace(b, preset=None)
    assert (a.hash() == b.hash()) == (a == b)


def test_adding_a_field_with_a_default_keeps_the_hash(monkeypatch):
    exp = C.resolve(preset="cifar10-resnet18", overrides=["prune.layer_rates=output:0.1"])
    old_hash, old_canonical = exp.hash(), exp.canonical()
    # A future version of Prune with one more setting, defaulted.
    future_prune = dataclasses.make_dataclass(
        "Prune",
        [("new_knob", int, field(default=3))],
        bases=(C.Prune,),
        frozen=True,
    )
    monkeypatch.setitem(C.SECTIONS, "prune", future_prune)
    carried = {f.name: getattr(exp.prune, f.name) for f in fields(C.Prune)}
    future = replace(exp, prune=future_prune(**carried))
    assert "prune.new_knob" in C.all_keys()
    assert future.canonical() == old_canonical and future.hash() == old_hash
    # the same experiment read from its TOML under the new version: still the same run
    assert (
        C.from_dict(tomllib.loads(exp.to_toml()), C.Experiment(prune=future_prune())).hash()
        == old_hash
    )
    # but setting the new knob away from its default is a different experiment
    assert C.set_value(future, "prune.new_knob", "4").hash() != old_hash
    assert C.set_value(future, "prune.new_knob", "3").hash() == old_hash


# -- overrides (--set) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "key", "value"),
    [
        ("train.epochs=10", "train.epochs", 10),
        ("train.epochs= +12 ", "train.epochs", 12),
        ("train.learning_rate=1e-3", "train.learning_rate", 0.001),
        ("train.learning_rate=1", "train.learning_rate", 1.0),
        ("distill.enabled=yes", "distill.enabled", True),
        ("distill.enabled=False", "distill.enabled", False),
        ("distill.enabled=1", "distill.enabled", True),
        ("prune.scope=layerwise", "prune.scope", "layerwise"),
        ("prune.rewind=step:500", "prune.rewind", "step:500"),
        ("prune.exclude=a, b,", "prune.exclude", ("a", "b")),
        ("prune.exclude=", "prune.exclude", ()),
        ("prune.layer_rates=output:0.1", "prune.layer_rates", {"output": 0.1}),
        ("seed=7", "seed", 7),
    ],
)
def test_set_overrides_parse(item, key, value):
    exp = C.resolve(preset="cora-gcn", overrides=[item])
    section, _, name = key.partition(".")
    got = getattr(getattr(exp, section), name) if name else getattr(exp, section)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("item", "mentions"),
    [
        ("train.epochs=abc", "train.epochs"),
        ("train.epochs=1.5", "train.epochs"),
        ("train.epochs=true", "train.epochs"),
        ("seed=x", "seed"),
        ("train.learning_rate=fast", "train.learning_rate"),
        ("train.learning_rate=nan", "train.learning_rate"),
        ("distill.temperature=inf", "distill.temperature"),
        ("distill.enabled=maybe", "distill.enabled"),
        ("prune.layer_rates=output", "prune.layer_rates"),
        ("prune.layer_rates=output:lots", "prune.layer_rates"),
        ("train.epochz=3", "train.epochz"),
        ("nosuch=1", "nosuch"),
        ("train=1", "train"),
        ("a.b.c=1", "a.b.c"),
        ("prune.rate", "prune.rate"),
    ],
)
def test_bad_overrides_are_one_line_errors(item, mentions):
    msg = one_line_error(C.resolve, preset="cora-gcn", overrides=[item])
    assert mentions in msg


def test_toml_values_are_type_checked():
    for raw in (
        {"train": {"epochs": "ten"}},
        {"train": {"epochs": 2.0}},
        {"train": {"learning_rate": True}},
        {"train": {"learning_rate": 10**400}},
        {"distill": {"enabled": 1}},
        {"prune": {"exclude": [1, 2]}},
        {"prune": {"layer_rates": {"a": "x"}}},
        {"model": {"name": 3}},
        {"seed": 1.5},
        {"train": 3},
        {"bogus": 1},
        {"train": {"bogus": 1}},
    ):
        one_line_error(C.from_dict, raw)


def test_config_file_errors(tmp_path):
    one_line_error(C.resolve, config_file=tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nepochs = = 3\n")
    msg = one_line_error(C.resolve, config_file=bad)
    assert "bad.toml" in msg


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "mentions"),
    [
        (["prune.rate=0"], "prune.rate"),
        (["prune.rate=1"], "prune.rate"),
        (["prune.rate=1.5"], "prune.rate"),
        (["prune.rate=-0.2"], "prune.rate"),
        (["prune.layer_rates=output:1.0"], "output"),
        (["prune.layer_rates=output:-0.1"], "output"),
        (["prune.scope=local"], "local"),
        (["prune.rewind=step:x"], "step:x"),
        (["prune.rewind=step:"], "prune.rewind"),
        (["prune.rewind=rewind"], "prune.rewind"),
        (["prune.rounds=-1"], "prune.rounds"),
        (["prune.controls=random_reinit,lucky"], "lucky"),
        (["prune.control_rounds=first"], "first"),
        (["prune.tolerance=-0.01"], "prune.tolerance"),
        (["prune.tolerance=5"], "0.01 (one point)"),  # points typed for a fraction
        (["prune.tolerance=nan"], "prune.tolerance"),
        (["model.name=vgg19"], "vgg19"),
        (["data.name=imagenet"], "imagenet"),
        (["data.name=cifar10"], "gcn"),  # graph model on image data
        (["model.name=resnet18"], "resnet18"),  # image model on graph data
        (["train.epochs=0"], "train.epochs"),
        (["train.batch_size=0"], "train.batch_size"),
        (["train.learning_rate=0"], "train.learning_rate"),
        (["train.optimizer=rmsprop"], "rmsprop"),
        (["train.schedule=linear"], "linear"),
        (["distill.alpha=1.5"], "distill.alpha"),
        (["distill.temperature=0"], "distill.temperature"),
        (["distill.from_round=0"], "distill.from_round"),
        (["data.val_size=-1"], "data.val_size"),
    ],
)
def test_validation_errors_are_one_line(overrides, mentions):
    msg = one_line_error(C.resolve, preset="cora-gcn", overrides=overrides)
    assert mentions in msg


def test_graph_model_on_image_data_names_the_fix():
    msg = one_line_error(C.resolve, overrides=["data.name=cifar10", "model.name=gcn"])
    assert "gcn" in msg and "cifar10" in msg and "resnet18" in msg


def test_unknown_preset():
    msg = one_line_error(C.resolve, preset="cifar100-resnet50")
    assert "cifar100-resnet50" in msg and "lth-tf presets" in msg
    one_line_error(C.preset_description, "nope")


def test_rewind_must_match_whole_value():
    for bad in ("init\n", "step:10\n", " lr", "finetune!"):
        exp = C.set_value(C.Experiment(), "prune.rewind", bad)
        one_line_error(C.validate, exp)
    for good in ("init", "lr", "finetune", "step:0", "step:2000"):
        C.validate(C.set_value(C.Experiment(), "prune.rewind", good))


@FAST
@given(
    st.text(min_size=1, max_size=20),
    st.sampled_from(["model.name", "data.name", "train.optimizer"]),
)
def test_any_unknown_name_gives_a_one_line_error(name, key):
    exp = C.set_value(C.Experiment(), key, name)
    known = {"model.name": C.MODELS, "data.name": C.DATASETS, "train.optimizer": C.OPTIMIZERS}[key]
    if name not in known:
        one_line_error(C.validate, exp)


def test_registry_name_lists_are_consistent():
    assert set(C.GRAPH_DATASETS) <= set(C.DATASETS) and set(C.GRAPH_MODELS) <= set(C.MODELS)
    assert C.Experiment().is_graph and C.validate(C.Experiment()) == C.Experiment()
