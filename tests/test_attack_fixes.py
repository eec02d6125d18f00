"""Defects found by trying lth-tf as a careless user would (notes/attack.md), one test each.

Fast tier: each is refused before TensorFlow trains anything (a Keras 3 model is built,
nothing fits).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.keras3_zoo import keras as k3
from helpers.models import splits

import lth_tf
from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.frontends.cli import main as cli
from lth_tf.frontends.sweep import runner


def one_line(capsys, argv: list[str]) -> str:
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("lth-tf: error: "), err
    return err


def test_labels_beyond_a_keras3_models_outputs_name_the_labels(tmp_path):
    """Was: a Keras 3 model skipped check_labels, so labels 0..6 on a 4-output model were
    told 'the data needs (None, 7); end the model with Dense(7)' (the model blamed, no label named)."""
    k3.utils.set_random_seed(0)
    model = k3.Sequential([k3.Input((12,)), k3.layers.Dense(8, name="h"), k3.layers.Dense(4, name="out")])
    (x, y), val, test = splits()
    y = y.copy()
    y[:7] = 6
    search = lth_tf.TicketSearch(model, directory=tmp_path / "runs", rounds=1, epochs=1)
    with pytest.raises(LthError) as e:
        search.fit((x, y), validation_data=val, test_data=test)
    msg = str(e.value)
    assert "7 train labels" in msg and "4 outputs" in msg, msg
    assert not (tmp_path / "runs").exists()


def test_a_numpy_integer_is_a_whole_number_setting():
    """Was: settings={"seed": np.int64(3)} -> "np.int64(3) is not a valid whole number"."""
    exp = C.set_value(C.Experiment(), "seed", np.int64(3))
    assert exp.seed == 3 and type(exp.seed) is int
    assert C.set_value(C.Experiment(), "train.epochs", np.int32(4)).train.epochs == 4
    with pytest.raises(LthError):
        C.set_value(C.Experiment(), "train.epochs", np.float64(4.5))


def test_run_out_a_broken_link_says_so(tmp_path, capsys):
    """Was: '[Errno 17] File exists: ...' for --out naming a link to nothing."""
    link = tmp_path / "runs"
    link.symlink_to(tmp_path / "gone")
    err = one_line(capsys, ["run", "--preset", "smoke", "--out", str(link)])
    assert "broken link" in err and str(link) in err, err
    assert not (tmp_path / "gone").exists()


@pytest.mark.parametrize("seconds", ["nan", "inf", "-inf"])
def test_tune_seconds_must_be_a_finite_budget(capsys, seconds):
    """Was: --seconds nan measured for 50 s ("about nan s"); inf was taken as a budget."""
    err = one_line(capsys, ["tune", "--preset", "smoke", f"--seconds={seconds}", "--no-store"])
    assert f"--seconds {float(seconds)}" in err, err


@pytest.mark.parametrize("tolerance", ["nan", "inf", "5"])  # 5: points typed for a fraction
def test_compare_tolerance_must_be_a_finite_number(tmp_path, capsys, tolerance):
    """Was: --tolerance nan wrote compare.md saying 'minus nan points' (inf: every round a ticket)."""
    err = one_line(capsys, ["compare", str(tmp_path), "--tolerance", tolerance, "--out", str(tmp_path / "c")])
    assert f"--tolerance {float(tolerance)}" in err, err
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("address", ["garbage", "127.0.0.1:notaport", "host:0", "host:70000", ":6379"])
def test_a_ray_address_that_is_not_host_port_is_refused_before_the_sweep_folder(tmp_path, capsys, address):
    """Was: 'garbage' wrote sweep.json, then Ray refused it; '127.0.0.1:notaport' came back
    from Ray as '192.0.2.2:notaport', an address the user never typed."""
    out = tmp_path / "sw"
    err = one_line(capsys, ["sweep", "--preset", "smoke", "--rounds", "1", "--ray", address, "--out", str(out)])
    assert repr(address) in err and "HOST:PORT" in err, err
    assert not out.exists()


def test_auto_is_left_to_ray():
    runner.check_reachable("auto")  # no probe, no error: Ray finds the cluster itself


def test_an_export_target_that_is_a_fifo_is_not_called_a_file(tmp_path):
    """Was: 'export target .../fifo is an existing file that lth-tf did not export'."""
    import os

    from lth_tf import export

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(LthError, match=r"is an existing FIFO \(named pipe\) that lth-tf did not export"):
        export.check_target(fifo)


@pytest.mark.parametrize("module", ["os", "sys"])
def test_a_factory_in_a_module_without_source_is_not_called_missing(module):
    """Was: py:os:getcwd -> "no module 'os' importable from CWD" (os is frozen, sys built in)."""
    from lth_tf.core import sources

    with pytest.raises(LthError, match=f"module '{module}' has no source file"):
        sources.factory_source(f"py:{module}:getcwd")


def test_an_lth_tui_usage_error_is_one_line(capsys):
    """Was: lth-tui --seed abc printed argparse's 3-line usage block before the error."""
    from tui.app import parse_args

    with pytest.raises(SystemExit) as e:
        parse_args(["--seed", "abc"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith("lth-tui: error: argument --seed: invalid int value: 'abc'"), err


@pytest.mark.parametrize("kind", ["file", "fifo", "broken link", "under a file"])
def test_ticket_search_directory_of_the_wrong_kind_is_one_lth_error(tmp_path, kind):
    """Was: directory=<a file or FIFO> raised NotADirectoryError from mkdir, a broken link
    FileExistsError ("File exists"), after the data was checked and the model read."""
    import os

    target = tmp_path / "runs"
    if kind == "file":
        target.write_text("mine")
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "broken link":
        target.symlink_to(tmp_path / "gone")
    else:
        (tmp_path / "f").write_text("mine")
        target = tmp_path / "f" / "runs"
    with pytest.raises(LthError, match="not a folder") as e:
        lth_tf.TicketSearch(lambda seed: None, directory=target, rounds=1, epochs=1)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "gone").exists()
