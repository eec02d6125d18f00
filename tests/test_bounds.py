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


def test_far_apart_seeds_derive_different_round_seeds():
    """A wrap-around (modulo 2**32) gave seeds s and s + 2**29 equal round seeds."""
    s = 4_294_000
    for far in (s + 2**29, s + 2**30, s + 3 * 2**29):
        rounds = {derived_seed(seed * 1000 + r) for seed in (s, far) for r in range(20)}
        assert len(rounds) == 40


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


# -- a lost or missing peer ------------------------------------------------------------------------
def multi_worker_platform(workers: int = 2):
    from lth_tf.core.config.strategy import Spec
    from lth_tf.platform import runtime
    from lth_tf.platform.platform import Platform

    return Platform(Placement(Spec("multi_worker"), "worker", 0, workers, True), None, runtime.onednn_state())


def test_a_collective_that_times_out_is_one_line_naming_the_lost_worker():
    from lth_tf.platform.backend import tf

    timed_out = tf.errors.DeadlineExceededError(None, None, "Collective ops is aborted by: peer down\nmore")
    lost = multi_worker_platform().lost_peer(timed_out)
    assert isinstance(lost, LthError) and "\n" not in str(lost)
    assert "a worker of this 2-worker run stopped answering" in str(lost) and "resumes" in str(lost)
    assert multi_worker_platform().lost_peer(ValueError("a bug")) is None  # other errors stay themselves
    assert multi_worker_platform(workers=1).lost_peer(timed_out) is None


@pytest.mark.cluster  # TensorFlow joins (or fails to join) a cluster in a fresh process
def test_a_chief_whose_peer_never_starts_gives_up_after_the_timeout(tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time

    from helpers.cli import ROOT, SMOKE

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    cluster = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": 0}}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CONFIG": json.dumps(cluster), "LTH_COLLECTIVE_TIMEOUT": "10",
           "TF_CPP_MIN_LOG_LEVEL": "3"}  # fmt: skip
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "lth_tf", "run", *SMOKE, "--set", "train.strategy=multi_worker",
                        "--out", str(tmp_path / "runs"), "--quiet"],
                       env=env, capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    lines = [line for line in r.stderr.splitlines() if line.startswith("lth-tf")]
    want = ("lth-tf: error: the cluster of TF_CONFIG did not form within LTH_COLLECTIVE_TIMEOUT=10 s (not all of "
            "its 2 workers joined); start every worker's command, then this one again")
    assert r.returncode == 1 and lines == [want], r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "Thread 0x" not in r.stderr  # faulthandler's dump is dropped
    assert time.monotonic() - t0 < 300
    assert not (tmp_path / "runs").exists()
