"""Paths that exist but are of the wrong kind (issue 28 items 5 and 6's messages).

An image folder holding a FIFO (or socket, or broken link) under an image name is
refused by that name and never blocks; a config file, model file, data folder,
run directory or compare argument that is there as the wrong kind of thing is
named as what it is, not reported missing. `--dense-from` with a damaged source
advises this command (drop the flag) and the source's own command, never "rerun
the same command".
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.core.paths import what_is
from lth_tf.frontends.compare.command import run_dirs
from lth_tf.keras_side.data import folder
from lth_tf.search import dense_from
from lth_tf.storage import rundir


def image_folder(root: Path) -> Path:
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(root / cls / f"{i}.png")
    return root


def within(seconds: float, fn):
    """fn()'s exception (or None), failing if it takes longer than `seconds` (it would block)."""
    got: list = []

    def call():
        try:
            fn()
            got.append(None)
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            got.append(e)

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(seconds)
    assert got, f"still blocked after {seconds} s"
    return got[0]


# -- item 5: only regular files are read -----------------------------------------------------------
def test_a_fifo_named_like_an_image_is_refused_by_name_without_blocking(tmp_path):
    root = image_folder(tmp_path / "imgs")
    os.mkfifo(root / "cat" / "99.png")
    e = within(30, lambda: folder.load(C.Data(name=f"folder:{root}", val_size=1)))
    assert isinstance(e, LthError), e
    assert "99.png" in str(e) and "FIFO" in str(e) and "remove it" in str(e)


@pytest.mark.parametrize("kind", ["socket", "broken link"])
def test_a_socket_or_broken_link_named_like_an_image_is_refused(tmp_path, kind):
    root = image_folder(tmp_path / "imgs")
    target = root / "dog" / "7.jpg"
    if kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(target))
    else:
        target.symlink_to(tmp_path / "gone.jpg")
    e = within(30, lambda: folder.scan(root))
    assert isinstance(e, LthError) and "7.jpg" in str(e) and kind.split()[-1] in str(e), e


def test_the_folder_fingerprint_does_not_fail_on_a_broken_link(tmp_path):
    from lth_tf.core import sources

    root = image_folder(tmp_path / "imgs")
    (root / "cat" / "x.png").symlink_to(tmp_path / "gone.png")
    assert sources.fingerprint(f"folder:{root}")


def test_a_fifo_in_an_image_folder_is_refused_by_the_cli(tmp_path, capsys):
    from lth_tf.frontends.cli import main as cli

    root = image_folder(tmp_path / "imgs")
    os.mkfifo(root / "cat" / "99.png")
    args = ["run", "--preset", "smoke", "--set", f"data.name=folder:{root}", "--set", "data.image_size=8",
            "--set", "model.name=tiny_cnn", "--out", str(tmp_path / "runs")]  # fmt: skip
    codes: list[int] = []
    assert within(300, lambda: codes.append(cli.main(args))) is None
    err = capsys.readouterr().err
    assert codes == [2] and "99.png" in err and "FIFO" in err, err
    assert not (tmp_path / "runs").exists()


# -- exists, but of another kind ------------------------------------------------------------
def test_what_is_names_each_kind(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("x")
    os.mkfifo(tmp_path / "p")
    (tmp_path / "l").symlink_to(tmp_path / "nowhere")
    got = {n: what_is(tmp_path / n) for n in ("d", "f", "p", "l", "missing")}
    assert got == {"d": "a folder", "f": "a file", "p": "a FIFO (named pipe)", "l": "a broken link",
                   "missing": "missing"}  # fmt: skip
    assert what_is("/dev/null") == "a character device"


def refused(fn) -> str:
    with pytest.raises(LthError) as e:
        fn()
    assert "\n" not in str(e.value)
    return str(e.value)


def test_a_config_that_is_a_folder_or_fifo_says_so(tmp_path):
    (tmp_path / "c.toml").mkdir()
    msg = refused(lambda: C.resolve(None, tmp_path / "c.toml"))
    assert "is a folder, not a file" in msg and "not found" not in msg
    os.mkfifo(tmp_path / "p.toml")
    msg = within(30, lambda: C.resolve(None, tmp_path / "p.toml"))
    assert "FIFO" in str(msg) and "not found" not in str(msg)


def test_model_and_data_names_of_the_wrong_kind_say_so(tmp_path):
    (tmp_path / "m.keras").mkdir()
    (tmp_path / "imgs").write_text("not a folder")
    msg = refused(lambda: C.resolve("smoke", overrides=[f"model.name=file:{tmp_path / 'm.keras'}"]))
    assert "is a folder, not a file" in msg and "no such file" not in msg
    msg = refused(lambda: C.resolve("smoke", overrides=[f"data.name=folder:{tmp_path / 'imgs'}"]))
    assert "is a file, not a folder" in msg and "no such folder" not in msg


def test_a_run_dir_or_compare_argument_that_is_a_file_says_so(tmp_path):
    (tmp_path / "f").write_text("x")
    msg = refused(lambda: rundir.existing(tmp_path / "f"))
    assert "is a file, not a run directory" in msg and "does not exist" not in msg
    msg = refused(lambda: run_dirs([str(tmp_path / "f")]))
    assert "is a file, not a folder" in msg and "does not exist" not in msg
    assert "does not exist" in refused(lambda: run_dirs([str(tmp_path / "nothing")]))


# -- --dense-from with a damaged source ------------------------------------------------------
@pytest.mark.parametrize("name", ["weights.npz", "masks.npz", "metrics.json"])
def test_a_damaged_dense_from_source_advises_dropping_the_flag_or_its_own_command(smoke_run, name):
    damaged = rundir.round_dir(smoke_run, 0) / name
    damaged.write_bytes(damaged.read_bytes()[:40])
    exp = rundir.read_experiment(smoke_run)
    msg = refused(lambda: dense_from.check(exp, smoke_run))
    assert name in msg and "drop --dense-from" in msg and "the command that made" in msg, msg
    assert "rerun the same command" not in msg


@pytest.mark.parametrize("name", ["config.toml", "summary.json", "rounds/000/weights.npz", "rounds/000/metrics.json"])
def test_a_fifo_in_place_of_a_run_file_is_named_never_opened(smoke_run, name):
    from lth_tf.storage import store

    path = smoke_run / name
    path.unlink()
    os.mkfifo(path)
    exp = C.resolve("smoke", overrides=["train.epochs=1", "prune.tolerance=1.0"])

    def read_everything():
        rundir.check_holds(smoke_run, exp.hash())
        rundir.read_summary(smoke_run)
        store.RunStore(smoke_run).load_round(0)

    e = within(30, read_everything)
    assert isinstance(e, LthError) and name.split("/")[-1] in str(e) and "FIFO" in str(e), e
