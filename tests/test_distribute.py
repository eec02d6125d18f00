"""train.strategy parsing, the placement from TF_CONFIG and the mask digest (no TensorFlow)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lth_tf.core import config as C
from lth_tf.core.config.strategy import Spec, parse_strategy
from lth_tf.core.errors import LthError
from lth_tf.core.masks import mask_digest
from lth_tf.platform import distribute as D
from lth_tf.platform import placement as P
from lth_tf.platform.placement import Placement


def tf_config(monkeypatch, kind: str, index: int, cluster: dict) -> None:
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}}))


@pytest.mark.parametrize(
    "text, spec",
    [("default", Spec()), ("mirrored", Spec("mirrored")), ("mirrored:2", Spec("mirrored", 2)),
     ("multi_worker", Spec("multi_worker"))],
)
def test_strategies_parse(text, spec):
    assert parse_strategy(text) == spec


@pytest.mark.parametrize("bad", ["", "mirror", "mirrored:0", "mirrored:x", "multi_worker:2", "default:1"])
def test_unknown_strategies_are_one_line_errors(bad):
    with pytest.raises(LthError, match="train.strategy"):
        parse_strategy(bad)
    with pytest.raises(LthError, match="train.strategy"):
        C.validate(C.Experiment(train=C.Train(strategy=bad)))


def test_the_default_strategy_keeps_the_run_name():
    assert C.Experiment().hash() == C.Experiment(train=C.Train(strategy="default")).hash()
    assert C.Experiment().hash() != C.Experiment(train=C.Train(strategy="mirrored:2")).hash()


def test_chief_and_scratch_from_tf_config(monkeypatch, tmp_path):
    monkeypatch.setenv(P.SCRATCH_VAR, str(tmp_path / "scratch"))
    train = C.Train(strategy="multi_worker")
    workers = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    tf_config(monkeypatch, "worker", 0, workers)
    assert Placement.from_settings(train) == Placement(Spec("multi_worker"), "worker", 0, 2, chief=True)
    assert Placement.from_settings(train).output_root(tmp_path / "out") == tmp_path / "out"
    tf_config(monkeypatch, "worker", 1, workers)
    assert P.task() == ("worker", 1, 2)
    assert not Placement.from_settings(train).chief
    assert Placement.from_settings(train).output_root(tmp_path / "out") == tmp_path / "scratch" / "worker-1"
    # with a chief task, worker 0 is not the chief
    tf_config(monkeypatch, "worker", 0, {"chief": ["127.0.0.1:3"], **workers})
    assert not Placement.from_settings(train).chief
    assert Placement.from_settings(train).workers == 3
    tf_config(monkeypatch, "chief", 0, {"chief": ["127.0.0.1:3"], **workers})
    assert Placement.from_settings(train).chief
    # other strategies ignore TF_CONFIG: one process writes
    mirrored = Placement.from_settings(C.Train(strategy="mirrored:2"))
    assert mirrored == Placement(Spec("mirrored", 2))
    assert mirrored.output_root(tmp_path / "out") == tmp_path / "out"
    assert (mirrored.workers, mirrored.chief) == (1, True)


def test_a_broken_tf_config_is_one_line(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(LthError, match="TF_CONFIG"):
        P.task()
    with pytest.raises(LthError, match="TF_CONFIG"):
        Placement.from_settings(C.Train(strategy="multi_worker"))


def test_a_spec_reads_as_its_setting():
    for text in ("default", "mirrored", "mirrored:2", "multi_worker"):
        assert str(parse_strategy(text)) == text


def test_mask_digest_sees_every_bit_and_not_the_key_order():
    rng = np.random.default_rng(0)
    masks = {"a": (rng.random((3, 4)) > 0.5).astype(np.float32), "b": np.ones(5, np.float32)}
    d = mask_digest(masks)
    assert mask_digest(dict(reversed(masks.items()))) == d
    for key in masks:
        flipped = {k: v.copy() for k, v in masks.items()}
        flipped[key].flat[0] = 1.0 - flipped[key].flat[0]
        assert mask_digest(flipped) != d
    assert mask_digest({"a": masks["a"].reshape(4, 3), "b": masks["b"]}) != d  # shape counts


@pytest.mark.parametrize("raw", ["ten", "0", "-5", "nan"])
def test_a_bad_collective_timeout_is_a_one_line_error(monkeypatch, raw):
    monkeypatch.setenv(D.TIMEOUT_VAR, raw)
    with pytest.raises(LthError, match=D.TIMEOUT_VAR) as e:
        D.collective_timeout()
    assert "\n" not in str(e.value)


def test_the_collective_timeout_is_read_in_seconds(monkeypatch):
    monkeypatch.setenv(D.TIMEOUT_VAR, "90")
    assert D.collective_timeout() == 90.0
    monkeypatch.delenv(D.TIMEOUT_VAR)
    assert D.collective_timeout() is None
