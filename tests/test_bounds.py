"""Bounds of seeds, sizes and counts, and clusters described wrongly (issue 28 items 3 and 4).

Each is refused with one line naming the value, the accepted range and the fix,
before anything is written (and, from the CLI, before TensorFlow is needed).
"""

from __future__ import annotations

import json

import pytest

from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.frontends.cli import main as cli
from lth_tf.platform import placement
from lth_tf.platform.placement import Placement
from lth_tf.search.engine import derived_seed


def refused(fn, *words: str) -> str:
    with pytest.raises(LthError) as e:
        fn()
    msg = str(e.value)
    assert "\n" not in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


# -- seeds -------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [-1, 2**32, 99999999999999999999])
def test_seeds_outside_numpys_range_are_refused_naming_it(seed):
    refused(lambda: C.resolve("smoke", overrides=[f"seed={seed}"]), f"seed {seed}", f"0..{2**32 - 1}")


@pytest.mark.parametrize("seed", [0, 4_294_967_295, 4_294_000])
def test_every_seed_in_range_gives_seeds_numpy_takes(seed):
    import numpy as np

    assert C.resolve("smoke", overrides=[f"seed={seed}"]).seed == seed
    for derived in (seed * 1000 + 2, seed + 7_919, seed * 1000 + 2 + 104_729):
        np.random.seed(derived_seed(derived))  # what keras.utils.set_random_seed calls


def test_small_seeds_derive_what_they_always_did():
    for n in (0, 1, 1000 * 42 + 3, 7_919 + 5, C.SEED_MAX):
        assert derived_seed(n) == n


@pytest.mark.parametrize(
    "args, words",
    [
        (["--seed", "-1"], ["seed -1", "0..4294967295"]),
        (["--seed", "4294967296"], ["seed 4294967296", "0..4294967295"]),
        (["--seed", "99999999999999999999"], ["seed 99999999999999999999"]),
        (["--rounds", "1000000"], ["prune.rounds 1000000", "1000"]),
        (["--set", "train.epochs=100000000000000000000"], ["train.epochs 100000000000000000000", "100000"]),
        (["--set", "data.image_size=1000000"], ["data.image_size 1000000", "1024"]),
        (["--set", "train.batch_size=10000000000"], ["train.batch_size", "1000000"]),
        (["--set", "model.width=10000000"], ["model.width", "4096"]),
        (["--set", "train.strategy=mirrored:100000"], ["mirrored:100000", "at most"]),
    ],
)
def test_cli_refuses_out_of_range_values_before_writing(tmp_path, capsys, args, words):
    code = cli.main(["run", "--preset", "smoke", *args, "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("key, big", [(k, v + 1) for k, v in C.LIMITS.items()])
def test_every_limit_is_checked(key, big):
    refused(lambda: C.resolve("smoke", overrides=[f"{key}={big}"]), f"{key} {big}")


def test_the_shipped_presets_are_within_the_limits():
    for name in C.preset_names():
        C.resolve(name)


# -- mirrored replicas -----------------------------------------------------------------------
def test_mirrored_beyond_the_cores_is_refused(monkeypatch):
    monkeypatch.setattr(placement, "usable_cpus", lambda: 4)
    assert Placement.from_settings(C.Train(strategy="mirrored:4")).spec.devices == 4
    refused(lambda: Placement.from_settings(C.Train(strategy="mirrored:5")), "mirrored:5", "at most 4")
    monkeypatch.setattr(placement, "usable_cpus", lambda: 1)
    assert Placement.from_settings(C.Train(strategy="mirrored:2")).spec.devices == 2  # two always work


# -- TF_CONFIG -----------------------------------------------------------------------------------
def tf_config(monkeypatch, value) -> None:
    monkeypatch.setenv("TF_CONFIG", value if isinstance(value, str) else json.dumps(value))


TWO = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}


@pytest.mark.parametrize(
    "cfg, words",
    [
        ({"cluster": TWO, "task": {"type": "worker", "index": 5}}, ["index 5", "2 worker addresses", "0..1"]),
        ({"cluster": TWO, "task": {"type": "worker", "index": -1}}, ["index -1"]),
        ({"cluster": TWO, "task": {"type": "chief", "index": 0}}, ["chief index 0", "0 chief"]),
        ({"cluster": TWO, "task": {"type": "ps", "index": 0}}, ["'ps'", "chief", "worker"]),
        ({"cluster": TWO}, ["TF_CONFIG is not"]),
        ({"cluster": TWO, "task": {"type": "worker", "index": "x"}}, ["TF_CONFIG is not"]),
        ({"cluster": ["a"], "task": {"type": "worker", "index": 0}}, ["TF_CONFIG is not"]),
        ("{not json", ["TF_CONFIG is not"]),
        ("[]", ["TF_CONFIG is not"]),
    ],
)
def test_a_bad_tf_config_is_one_line(monkeypatch, cfg, words):
    tf_config(monkeypatch, cfg)
    refused(lambda: Placement.from_settings(C.Train(strategy="multi_worker")), *words)


def test_a_good_tf_config_places_the_process(monkeypatch):
    tf_config(monkeypatch, {"cluster": TWO, "task": {"type": "worker", "index": 1}})
    p = Placement.from_settings(C.Train(strategy="multi_worker"))
    assert (p.task_type, p.task_index, p.workers, p.chief) == ("worker", 1, 2, False)
