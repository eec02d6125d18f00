"""The platform object: made once from the settings, passed down; one strategy per process.

What it records (`settings()`, run_started.runtime) is in test_runtime.py; runs
under mirrored and multi_worker are in test_distribute_runs.py. Here: the scope
and `local()`, the oneDNN record per process, and that a process refuses a
second, different strategy (fresh processes: TensorFlow fixes devices once).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lth_tf.core import config as C
from lth_tf.core.config.strategy import Spec
from lth_tf.platform import onednn
from lth_tf.platform.placement import Placement
from lth_tf.platform.platform import Platform

ROOT = Path(__file__).resolve().parents[1]
STATE = onednn.State(enabled=True, source="lth_tf", value="1")


class FakeStrategy:
    num_replicas_in_sync = 2

    def __init__(self):
        self.entered = 0

    def scope(self):
        strategy = self

        class Scope:
            def __enter__(self):
                strategy.entered += 1

        return Scope()


def test_models_are_built_in_the_scope_except_in_local():
    strategy = FakeStrategy()
    platform = Platform(Placement(Spec("mirrored", 2)), strategy, STATE)
    platform.enter_scope()
    assert strategy.entered == 1
    with platform.local(), platform.local():  # exports: plain variables
        platform.enter_scope()
    assert strategy.entered == 1
    platform.enter_scope()
    assert (strategy.entered, platform.replicas) == (2, 2)


def test_the_default_strategy_enters_no_scope_and_writes_everything(tmp_path):
    strategy = FakeStrategy()
    platform = Platform(Placement(), strategy, STATE)
    platform.enter_scope()
    assert strategy.entered == 0 and platform.replicas == 1
    assert platform.writes_exports and platform.output_root(tmp_path) == tmp_path


def test_a_non_chief_worker_writes_to_scratch(tmp_path, monkeypatch):
    monkeypatch.setenv("LTH_SCRATCH_DIR", str(tmp_path / "scratch"))
    worker = Platform(Placement(Spec("multi_worker"), "worker", 1, 2, chief=False), FakeStrategy(), STATE)
    assert not worker.writes_exports
    assert worker.output_root(tmp_path / "out") == tmp_path / "scratch" / "worker-1"


def test_a_platform_without_a_strategy_exports_anywhere():
    """`lth-tf export` and the TUI's attach mode: one device, whatever the run's strategy."""
    platform = Platform.single(C.Train(strategy="mirrored:2", precision="mixed_bfloat16"))
    assert (platform.spec, platform.replicas, platform.workers, platform.chief) == (Spec(), 1, 1, True)
    assert platform.settings()["precision"] == "mixed_bfloat16"
    with platform.local():
        platform.enter_scope()


def test_the_onednn_choice_is_recorded_per_process(monkeypatch):
    monkeypatch.delenv(onednn.VAR, raising=False)
    monkeypatch.setenv(onednn.RECORD, "1:lth_tf")  # a parent's record, inherited: not ours
    assert onednn.source() is None
    monkeypatch.setitem(sys.modules, "tensorflow", sys.modules.get("tensorflow", object()))
    assert onednn.choose(graph=True) == "tensorflow"  # TF loaded first: its rule
    assert onednn.source() == "tensorflow" and onednn.VAR not in os.environ
    assert onednn.choose(graph=False) == "tensorflow"  # only the first choice counts
    monkeypatch.setenv(onednn.VAR, "0")
    monkeypatch.setenv(onednn.RECORD, f"{os.getpid() + 1}:lth_tf")
    assert onednn.choose() == "environment"


# -- one strategy per process (fresh processes) ----------------------------------------------
MAKE = """
import json, sys
from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.platform.platform import Platform

out = []
for text in sys.argv[1:]:
    try:
        p = Platform.from_settings(C.Train(strategy=text))
        out.append([p.spec.kind, p.replicas])
    except LthError as e:
        out.append(str(e))
print(json.dumps(out))
"""


def make_in_one_process(*strategies: str, env: dict | None = None) -> list:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    out = subprocess.run([sys.executable, "-c", MAKE, *strategies], env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # TensorFlow starts in a fresh process
def test_a_process_keeps_its_cpu_split():
    got = make_in_one_process("mirrored:2", "mirrored:2", "default", "mirrored", "mirrored:3", "multi_worker")
    assert got[:2] == [["mirrored", 2], ["mirrored", 2]]  # the same one again: fine
    for asked, error in zip(["default", "mirrored", "mirrored:3", "multi_worker"], got[2:], strict=True):
        assert f"train.strategy '{asked}' in a process already using mirrored:2" in error
        assert "new process" in error and "\n" not in error


@pytest.mark.slow  # TensorFlow starts in a fresh process
def test_a_process_that_trained_on_one_device_refuses_a_split():
    got = make_in_one_process("default", "mirrored:2")
    assert got[0] == ["default", 1]
    assert "mirrored:2 must be set before TensorFlow initialises its devices" in got[1]


@pytest.mark.slow  # TensorFlow starts in a fresh process
def test_a_process_joins_one_cluster_once():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tf_config = {"cluster": {"worker": [f"127.0.0.1:{port}"]}, "task": {"type": "worker", "index": 0}}
    got = make_in_one_process("multi_worker", "multi_worker", "default", env={"TF_CONFIG": json.dumps(tf_config)})
    assert got[0] == ["multi_worker", 1]
    assert "already using multi_worker (a process joins its cluster once" in got[1]
    assert "train.strategy 'default' in a process already using multi_worker" in got[2]


def test_the_search_takes_the_platform_it_is_given(tmp_path):
    """LotterySearch makes none of its own when given one (the front end parsed the setting)."""
    from lth_tf.search.lottery import LotterySearch

    exp = C.resolve("smoke", overrides=["train.strategy=mirrored:2"])
    platform = Platform.single(exp.train)
    search = LotterySearch(exp, out=tmp_path, platform=platform)
    assert search.platform is platform and search.engine.platform is platform
