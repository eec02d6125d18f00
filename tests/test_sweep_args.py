"""`lth-tf sweep` arguments refused before anything is written or started (issue 28 item 4).

In-process and without TensorFlow or Ray starting: the checks run in `plan`.
A Ray address where nothing listens is refused within a bounded time.
"""

from __future__ import annotations

import socket
import time

import pytest

from lth_tf.frontends.cli import main as cli
from lth_tf.frontends.sweep import runner

TINY = ["--preset", "smoke", "--set", "train.epochs=1", "--set", "prune.rounds=1"]


def refused(tmp_path, capsys, *args: str) -> str:
    out = tmp_path / "sw"
    code = cli.main(["sweep", *TINY, *args, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("lth-tf: error: "), err
    assert not out.exists()
    return err


@pytest.mark.parametrize(
    "args, words",
    [
        (["--ray", "local", "--cpus-per-cell", "-1"], ["--cpus-per-cell -1", "positive"]),
        (["--ray", "local", "--cpus-per-cell", "0"], ["--cpus-per-cell 0", "positive"]),
        (["--ray", "local", "--cpus-per-cell", "nan"], ["--cpus-per-cell nan"]),
        (["--ray", "local", "--cpus-per-cell", "inf"], ["--cpus-per-cell inf"]),
        (["--ray", "local", "--jobs", "1", "--cpus-per-cell", "2"], ["--cpus-per-cell 2", "--jobs 2"]),
        (["--seeds", "0-99999"], ["--seeds", "at most"]),
        (["--seeds", "4294967296"], ["seed 4294967296", "0..4294967295"]),
        (["--seeds", "-1"], ["--seeds '-1'"]),
        (["--set", "train.strategy=mirrored:100000"], ["mirrored:100000"]),
        (["--jobs", "-3"], ["--jobs -3"]),
    ],
)
def test_bad_sweep_arguments_are_one_line(tmp_path, capsys, args, words):
    err = refused(tmp_path, capsys, *args)
    for w in words:
        assert w in err, err


def test_a_ray_address_with_nothing_listening_is_refused_quickly(tmp_path, capsys):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    err = refused(tmp_path, capsys, "--ray", f"127.0.0.1:{port}")
    assert time.monotonic() - t0 < runner.PROBE_SECONDS + 5
    assert f"127.0.0.1:{port}" in err and "nothing answers" in err and "ray start --head" in err


def test_a_ray_address_that_never_answers_is_refused_after_the_probe(monkeypatch):
    seen = []

    def silent(address, timeout):
        seen.append(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", silent)
    with pytest.raises(Exception, match="no answer within 5 s"):
        runner.check_reachable("10.255.255.1:6379")
    assert seen == [runner.PROBE_SECONDS]


def test_mirrored_cells_on_a_ray_cluster_are_not_held_to_this_machines_cores(monkeypatch):
    """With --ray HOST:PORT the cells run on the cluster's machines: mirrored:8 is theirs to
    check (each cell's run does), not the 2-core launcher's; --ray local still checks here."""
    import argparse

    from lth_tf.frontends.sweep import command

    monkeypatch.setattr(runner, "check_reachable", lambda address: None)
    parser = argparse.ArgumentParser()
    command.add_parser(parser.add_subparsers())
    cores = ["--set", "train.strategy=mirrored:100000"]
    args = parser.parse_args(["sweep", *TINY, *cores, "--out", "unused", "--ray", "10.0.0.1:6379"])
    (cell,) = command.plan(args)[3]
    assert "train.strategy=mirrored:100000" in cell.overrides
    args = parser.parse_args(["sweep", *TINY, *cores, "--out", "unused", "--ray", "local"])
    with pytest.raises(Exception, match="mirrored:100000"):
        command.plan(args)


def test_a_ray_address_whose_name_lookup_hangs_is_refused_within_the_probe(monkeypatch):
    """create_connection's own timeout does not cover the name lookup: the probe's deadline does."""
    def stuck(address, timeout):
        time.sleep(30)  # a resolver that never answers

    monkeypatch.setattr(socket, "create_connection", stuck)
    t0 = time.monotonic()
    with pytest.raises(Exception, match="no answer within 0.5 s"):
        runner.check_reachable("ray-head.invalid:6379", seconds=0.5)
    assert time.monotonic() - t0 < 3


def test_no_timing_reaches_every_cells_run_and_leaves_its_name(tmp_path):
    """sweep --export --no-timing: each cell's `lth-tf run` gets --no-timing, which is not a
    setting (the cell's run name, hence its directory, is the one without it)."""
    from lth_tf.frontends.cli import options

    args = cli.build_parser().parse_args(["sweep", "--preset", "smoke", "--out", str(tmp_path), "--export",
                                          "--no-timing"])
    assert args.no_timing and args.export
    entry = {"overrides": ["seed=3"]}
    runs = []
    for timing in (False, True):
        command = runner.cell_command({"preset": "smoke"}, entry, tmp_path, export=True, timing=timing)
        assert ("--no-timing" in command) is not timing and "--no-export" not in command
        run_args = cli.build_parser().parse_args(command[command.index("run"):])
        assert run_args.no_timing is not timing
        runs.append(options.experiment_from_args(run_args).run_name())
    assert runs[0] == runs[1]
